import fs from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const buildDir = path.join(root, "build", "js");
let names;

function moduleNames() {
	if (!names) {
		const file = path.join(buildDir, "modules.json");
		names = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : {};
	}
	return names;
}

export async function resolve(specifier, context, nextResolve) {
	const source = moduleNames()[specifier];
	if (source !== undefined) {
		return { url: pathToFileURL(path.join(buildDir, source)).href, shortCircuit: true };
	}
	return nextResolve(specifier, context);
}
