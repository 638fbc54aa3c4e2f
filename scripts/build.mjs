// Builds the TypeScript sources for the two host simulators.
//
// - build/js/<path>.js: every .ts file of the project, same layout, for Node.
//   Firmware modules import each other by manifest name ("mqtt/codec");
//   scripts/register.mjs resolves those names from build/js/modules.json.
// - build/xsnap/<name>: the firmware modules named exactly as the manifest
//   names them, so that the XS worker, started in that folder, resolves
//   `import ... from "mqtt/codec"` the way the Moddable runtime does.
//
// Type checking is not done here (it is `npm run typecheck`); this is a
// per-file transpile, so it is fast and can run before every test.
import fs from "node:fs";
import path from "node:path";
import ts from "typescript";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const out = path.join(root, "build");

const compilerOptions = {
	target: ts.ScriptTarget.ES2022,
	module: ts.ModuleKind.ESNext,
	isolatedModules: true,
	verbatimModuleSyntax: true,
	sourceMap: false,
	inlineSourceMap: true,
	inlineSources: false,
};

/** Module name → source file (no extension), for one platform of the manifest. */
export function manifestModules(platform) {
	const manifest = JSON.parse(fs.readFileSync(path.join(root, "manifest.json"), "utf8"));
	const platformSection = manifest.platforms?.[platform];
	if (!platformSection) throw new Error(`manifest.json has no platform "${platform}"`);
	if (platformSection.error) throw new Error(platformSection.error);
	const names = new Map();
	for (const modules of [manifest.modules, platformSection.modules ?? {}]) {
		for (const [key, value] of Object.entries(modules)) {
			for (const source of [].concat(value)) expand(key, source, names);
		}
	}
	return names;
}

// The manifest's "*" rules, as mcconfig applies them: a "*" in the key
// takes the file's base name, and "*" alone means "the base name itself".
function expand(key, source, names) {
	if (!source.includes("*")) {
		names.set(key === "*" ? path.basename(source) : key, source.replace(/^\.\//, ""));
		return;
	}
	const folder = path.join(root, path.dirname(source));
	if (!fs.existsSync(folder)) return;
	for (const file of fs.readdirSync(folder).sort()) {
		if (!file.endsWith(".ts") || file.endsWith(".d.ts")) continue;
		const base = file.slice(0, -3);
		const name = key === "*" ? base : key.replace("*", base);
		names.set(name, path.relative(root, path.join(folder, base)));
	}
}

function transpile(sourceFile) {
	const text = fs.readFileSync(sourceFile, "utf8");
	const result = ts.transpileModule(text, { compilerOptions, fileName: sourceFile, reportDiagnostics: true });
	if (result.diagnostics?.length) {
		const message = ts.formatDiagnostics(result.diagnostics, {
			getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => "\n",
		});
		throw new Error(message);
	}
	return result.outputText;
}

function* sourceFiles(dir) {
	for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
		if (entry.name === "node_modules" || entry.name === "build" || entry.name.startsWith(".")) continue;
		const full = path.join(dir, entry.name);
		if (entry.isDirectory()) yield* sourceFiles(full);
		else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) yield full;
	}
}

function write(file, text) {
	fs.mkdirSync(path.dirname(file), { recursive: true });
	fs.writeFileSync(file, text);
}

/** Portable test code that also runs inside XS, by these names. */
export const xsTestModules = {
	"test/lib/*": "test/lib/*",
	"test/portable/*": "test/portable/*",
	"bench/xs/*": "bench/xs/*",
};

export function build() {
	fs.rmSync(out, { recursive: true, force: true });
	const emitted = new Map();
	for (const file of sourceFiles(root)) {
		const relative = path.relative(root, file).slice(0, -3);
		const js = transpile(file);
		emitted.set(relative, js);
		write(path.join(out, "js", relative + ".js"), js);
	}
	const nodeNames = manifestModules("node");
	for (const [key, source] of Object.entries(xsTestModules)) expand(key, source, nodeNames);
	write(path.join(out, "js", "modules.json"), JSON.stringify(Object.fromEntries(
		[...nodeNames].map(([name, source]) => [name, source + ".js"])), null, "\t"));

	const xsNames = manifestModules("xsnap");
	for (const [key, source] of Object.entries(xsTestModules)) expand(key, source, xsNames);
	for (const [name, source] of xsNames) {
		const js = emitted.get(source);
		if (js === undefined) throw new Error(`module "${name}": no source ${source}.ts`);
		// XS's loader would try to open a source map named in the file.
		write(path.join(out, "xsnap", name), js.replace(/\n\/\/# sourceMappingURL=.*\n?$/, "\n"));
	}
	return { node: nodeNames.size, xsnap: xsNames.size };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
	const counts = build();
	console.log(`built ${counts.node} modules for node and ${counts.xsnap} for xsnap in build/`);
}
