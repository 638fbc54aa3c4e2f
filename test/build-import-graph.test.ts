/*
 * The import graph of main.ts, modules/, hosts/ and tools/, computed from
 * the sources: every import (type-only ones too, and re-exports) resolved
 * by manifest name on each platform, or by relative path. It fails on an
 * import circle and on an arrow running back up the layers:
 *
 *   tools → main → hosts → firmware/device (the composition root) → web
 *     → firmware → config → mqtt → net, log, utf8 → platform, backoff
 *
 * An arrow may skip layers downwards; within a layer any arrow is fine as
 * long as it closes no circle. hosts may import modules; modules never
 * import hosts or tools. The one arrow allowed upwards is the XS host
 * simulator's dynamic import("main"), by which its host starts the
 * firmware inside the engine.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import ts from "typescript";
import { pathToFileURL } from "node:url";
import { projectRoot } from "../hosts/xsnap/paths.js";

type ModuleMap = (platform: string) => Map<string, string>;
const { manifestModules } = await import(pathToFileURL(path.join(projectRoot, "scripts/build.mjs")).href) as { manifestModules: ModuleMap };

/** Every platform the manifest maps, so a name resolves to each file it stands for somewhere. */
const platforms = ["esp32", "lin", "mac", "win", "xsnap", "node"];

/** Layers, top first: a file may import its own layer's files or any below. */
const layers: [string, (file: string) => boolean][] = [
	["tools", (file) => file.startsWith("tools/")],
	["main", (file) => file === "main.ts"],
	["hosts", (file) => file.startsWith("hosts/")],
	["firmware composition", (file) => file === "modules/firmware/device.ts"],
	["web", (file) => file.startsWith("modules/web/")],
	["firmware", (file) => file.startsWith("modules/firmware/")],
	["config", (file) => file === "modules/config.ts"],
	["mqtt", (file) => file.startsWith("modules/mqtt/")],
	["net/log/text", (file) => file.startsWith("modules/net/") || file === "modules/log.ts" || file === "modules/utf8.ts"],
	["platform/backoff", (file) => file === "modules/platform.ts" || file === "modules/backoff.ts"],
];

export interface ImportEdge {
	from: string;
	to: string;
	dynamic: boolean;
}

/** The layer's index, top = 0; throws for a file no layer claims, so a new folder must be placed. */
function layerOf(file: string): number {
	const index = layers.findIndex(([, holds]) => holds(file));
	if (index < 0) throw new Error(`${file}: in no layer of the import graph; place it in test/import-graph.test.ts`);
	return index;
}

function* sources(folder: string): Generator<string> {
	for (const entry of fs.readdirSync(path.join(projectRoot, folder), { withFileTypes: true })) {
		const relative = path.posix.join(folder, entry.name);
		if (entry.isDirectory()) yield* sources(relative);
		else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) yield relative;
	}
}

/** Manifest name → the project .ts files it stands for on any platform. */
function nameTargets(): Map<string, Set<string>> {
	const targets = new Map<string, Set<string>>();
	for (const platform of platforms) {
		for (const [name, source] of manifestModules(platform)) {
			const file = `${source}.ts`;
			if (source.startsWith("$(") || !fs.existsSync(path.join(projectRoot, file))) continue;
			if (!targets.has(name)) targets.set(name, new Set());
			targets.get(name)!.add(file);
		}
	}
	return targets;
}

/** Import specifiers of one source, each marked dynamic or not. */
function specifiersOf(file: string, text: string): { specifier: string; dynamic: boolean }[] {
	const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
	const found: { specifier: string; dynamic: boolean }[] = [];
	const visit = (node: ts.Node): void => {
		if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
			found.push({ specifier: node.moduleSpecifier.text, dynamic: false });
		} else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteralLike(node.arguments[0])) {
			found.push({ specifier: node.arguments[0].text, dynamic: true });
		}
		ts.forEachChild(node, visit);
	};
	visit(source);
	return found;
}

/** The project's import graph, from the sources as they are now. */
export function importGraph(): { files: string[]; edges: ImportEdge[] } {
	const files = ["main.ts", ...sources("modules"), ...sources("hosts"), ...sources("tools")];
	const known = new Set(files);
	const names = nameTargets();
	const edges: ImportEdge[] = [];
	for (const file of files) {
		for (const { specifier, dynamic } of specifiersOf(file, fs.readFileSync(path.join(projectRoot, file), "utf8"))) {
			const targets = specifier.startsWith(".")
				? [path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier.replace(/\.js$/, ".ts")))]
				: [...names.get(specifier) ?? []];
			// SDK modules, Node built-ins, npm packages and test code are outside the graph.
			for (const to of targets) if (known.has(to)) edges.push({ from: file, to, dynamic });
		}
	}
	return { files, edges };
}

/** The deliberate exception: the XS host simulator's host starts the firmware by a dynamic import of main. */
const startsMain = (edge: ImportEdge): boolean => edge.dynamic && edge.to === "main.ts" && edge.from.startsWith("hosts/");

/** Arrows that run back up the layers, as "from → to (layer → layer)". */
export function upwardArrows(edges: ImportEdge[]): string[] {
	return edges.filter((edge) => !startsMain(edge) && layerOf(edge.to) < layerOf(edge.from))
		.map((edge) => `${edge.from} → ${edge.to} (${layers[layerOf(edge.from)]![0]} → ${layers[layerOf(edge.to)]![0]})`);
}

/** Every import circle (Tarjan's strongly connected components), each as its files sorted. */
export function importCircles(files: string[], edges: ImportEdge[]): string[][] {
	const next = new Map<string, string[]>(files.map((file) => [file, []]));
	for (const edge of edges) if (!startsMain(edge)) next.get(edge.from)!.push(edge.to);
	const index = new Map<string, number>();
	const low = new Map<string, number>();
	const stack: string[] = [];
	const onStack = new Set<string>();
	const circles: string[][] = [];
	const connect = (file: string): void => {
		index.set(file, index.size);
		low.set(file, index.get(file)!);
		stack.push(file);
		onStack.add(file);
		for (const to of next.get(file) ?? []) {
			if (!index.has(to)) {
				connect(to);
				low.set(file, Math.min(low.get(file)!, low.get(to)!));
			} else if (onStack.has(to)) low.set(file, Math.min(low.get(file)!, index.get(to)!));
		}
		if (low.get(file) !== index.get(file)) return;
		const component: string[] = [];
		let member: string;
		do {
			member = stack.pop()!;
			onStack.delete(member);
			component.push(member);
		} while (member !== file);
		if (component.length > 1 || next.get(file)!.includes(file)) circles.push(component.sort());
	};
	for (const file of files) if (!index.has(file)) connect(file);
	return circles;
}

describe("the import graph: layers, and no circle", function () {
	const { files, edges } = importGraph();

	it("is read from the sources, manifest names resolved", function () {
		const has = (from: string, to: string): boolean => edges.some((edge) => edge.from === from && edge.to === to);
		assert.ok(has("main.ts", "modules/firmware/device.ts"), "main imports the composition root by its manifest name");
		assert.ok(has("main.ts", "hosts/esp32/host.ts") && has("main.ts", "hosts/mcsim/host.ts"), "\"host\" stands for each platform's host");
		assert.ok(has("hosts/simulated-board/board.ts", "hosts/simulated-board/listener.ts"), "relative imports are followed");
		assert.ok(edges.some((edge) => startsMain(edge)), "the XS host simulator's import(\"main\") is seen, and is the one exception");
	});

	it("has no import circle among main.ts, modules/, hosts/ and tools/", function () {
		assert.deepEqual(importCircles(files, edges), []);
	});

	it("has no arrow running back up the layers, and modules/ imports nothing from hosts/ or tools/", function () {
		assert.deepEqual(upwardArrows(edges), []);
	});

	it("would catch a circle and an arrow up", function () {
		const circle: ImportEdge[] = [
			{ from: "hosts/simulated-board/listener.ts", to: "hosts/simulated-board/board.ts", dynamic: false },
			{ from: "hosts/simulated-board/board.ts", to: "hosts/simulated-board/listener.ts", dynamic: false },
		];
		assert.deepEqual(importCircles(files, [...edges, ...circle]), [["hosts/simulated-board/board.ts", "hosts/simulated-board/listener.ts"]]);
		const up: ImportEdge[] = [
			{ from: "modules/firmware/app.ts", to: "modules/firmware/device.ts", dynamic: false },
			{ from: "modules/mqtt/client.ts", to: "hosts/moddable/socket.ts", dynamic: true },
		];
		assert.deepEqual(upwardArrows([...edges, ...up]), [
			"modules/firmware/app.ts → modules/firmware/device.ts (firmware → firmware composition)",
			"modules/mqtt/client.ts → hosts/moddable/socket.ts (mqtt → hosts)",
		]);
	});
});
