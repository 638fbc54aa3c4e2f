// Where things are, from the compiled file in build/js/hosts/xsnap.
import path from "node:path";
import { fileURLToPath } from "node:url";

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..");
export const xsModuleRoot = path.join(projectRoot, "build", "xsnap");
