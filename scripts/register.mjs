// Lets Node resolve firmware modules by their manifest names ("mqtt/codec"),
// as the Moddable runtime and the XS host simulator do. Load it with
// `node --import ./scripts/register.mjs`.
import { register } from "node:module";
register("./resolve-hook.mjs", import.meta.url);
