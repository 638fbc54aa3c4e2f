// Builds the TypeScript sources for the two host simulators.
//
// - build/js/<path>.js: every .ts file of the project, same layout, for Node.
//   Firmware modules import each other by manifest name ("mqtt/codec");
//   scripts/register.mjs resolves those names from build/js/modules.json.
// - build/xsnap/<name>: the firmware modules named exactly as the manifest
//   names them, so that the XS worker, started in that folder, resolves
//   `import ... from "mqtt/codec"` the way the Moddable runtime does.
//
// Type checking is not done here (it is `npm run typecheck`). The emit is
// done the way mcconfig's tsc does it: one program, not per-file
// transpiling, so `const enum` members are inlined as numbers and imports
// used only for them vanish, exactly as in a device build.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

// Loaded when a build runs: `--if-stale` on an up-to-date build answers without it.
let loaded;
const typescript = () => (loaded ??= createRequire(import.meta.url)("typescript"));

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
// `--out DIR` builds elsewhere (a test of the build itself); the project runs from build/.
const outArgument = process.argv.indexOf("--out");
const out = outArgument > 1 ? path.resolve(process.argv[outArgument + 1]) : path.join(root, "build");

/** Module resolution (manifest names) from the Node-side tsconfig. */
function projectPaths() {
	const { config, error } = typescript().readConfigFile(path.join(root, "tsconfig.node.json"), typescript().sys.readFile);
	if (error) throw new Error(typescript().flattenDiagnosticMessageText(error.messageText, "\n"));
	const parsed = typescript().parseJsonConfigFileContent(config, typescript().sys, root);
	return parsed.options.paths;
}

const compilerOptions = () => ({
	target: typescript().ScriptTarget.ES2022,
	module: typescript().ModuleKind.ESNext,
	moduleResolution: typescript().ModuleResolutionKind.Bundler,
	baseUrl: root,
	skipLibCheck: true,
	noEmitOnError: false,
	types: [],
	sourceMap: false,
	inlineSourceMap: true,
	inlineSources: false,
});

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

/** Every source file emitted as JavaScript, by path relative to the root without extension. */
function emitAll(files) {
	const program = typescript().createProgram(files, { ...compilerOptions(), paths: projectPaths() });
	const syntax = program.getSyntacticDiagnostics();
	if (syntax.length) {
		throw new Error(typescript().formatDiagnostics(syntax, {
			getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => "\n",
		}));
	}
	const emitted = new Map();
	program.emit(undefined, (fileName, text) => {
		// Without an outDir each output lands next to its source.
		emitted.set(path.relative(root, fileName).replace(/\.js$/, ""), text);
	});
	return emitted;
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
	const files = [...sourceFiles(root)];
	const emitted = emitAll(files);
	for (const file of files) {
		const relative = path.relative(root, file).slice(0, -3);
		const js = emitted.get(relative);
		if (js === undefined) throw new Error(`${relative}.ts produced no JavaScript`);
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

const stamp = path.join(out, ".built");

/**
 * True when build/ is newer than every source, manifest and config file, so
 * `node scripts/build.mjs --if-stale` (`npm start`'s first step) skips a rebuild of
 * several seconds and a mistake on its command line is explained at once.
 */
export function upToDate() {
	if (!fs.existsSync(stamp)) return false;
	const built = fs.statSync(stamp).mtimeMs;
	const inputs = [...sourceFiles(root), ...["manifest.json", "tsconfig.json", "tsconfig.node.json", "package.json", "scripts/build.mjs"].map((file) => path.join(root, file))];
	return inputs.every((file) => !fs.existsSync(file) || fs.statSync(file).mtimeMs < built);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
	if (process.argv.includes("--if-stale")) {
		if (upToDate()) process.exit(0);
		// npm start's first run would otherwise show an empty terminal for the whole build.
		console.log("building… (the first start, or sources changed since the last build; this takes a few seconds, more the first time)");
	}
	const began = Date.now();
	const counts = build();
	// Stamped with the time the build began: a source saved during it leaves the build stale.
	write(stamp, "");
	fs.utimesSync(stamp, began / 1000, began / 1000);
	console.log(`built ${counts.node} modules for node and ${counts.xsnap} for xsnap in build/`);
}
