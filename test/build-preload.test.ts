/*
 * Preloading: every module of ours runs at build time (xsl for the ESP32,
 * the mc.so build for lin) and then lives in flash, not RAM. Two rules make
 * that hold, and both are checked here without an SDK:
 *
 * 1. Every project module a Moddable platform maps is named in the
 *    manifest's `preload` for that platform, by its exact name: mcconfig's
 *    filterPreload matches a wildcard ("mqtt/*") against JavaScript files
 *    only, so a TypeScript module is preloaded only when named.
 * 2. A preloaded module writes no module-level state after start-up: no
 *    module-level `let`/`var`, and no module-level constant, class or
 *    function whose contents a function changes (a property set, deleted or
 *    counted up, or a container's push/set/add/...). Changing a preloaded
 *    object costs RAM on the device (XS keeps the change beside the flash
 *    copy) and shared state between restarts; a change made while the
 *    module body runs, at build time, is fine. State belongs in objects that
 *    functions main runs make.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import ts from "typescript";
import { pathToFileURL } from "node:url";
import { projectRoot } from "../tools/rigs/xs.js";

type ModuleMap = (platform: string) => Map<string, string>;
const { manifestModules } = await import(pathToFileURL(path.join(projectRoot, "scripts/build.mjs")).href) as { manifestModules: ModuleMap };

interface Manifest {
	preload?: string[];
	platforms: Record<string, { preload?: string[]; error?: string }>;
}
const manifest = JSON.parse(fs.readFileSync(path.join(projectRoot, "manifest.json"), "utf8")) as Manifest;
const preloadingPlatforms = ["esp32", "lin"];

/** The names mcconfig preloads on a platform: the top level's and the platform's. */
function preloadNames(platform: string, source: Manifest = manifest): string[] {
	return [...(source.preload ?? []), ...(source.platforms[platform]?.preload ?? [])];
}

/** Project modules with TypeScript source (a mapped .d.ts only declares an SDK module) that a platform maps, by name. */
function projectModules(platform: string): Map<string, string> {
	const modules = new Map<string, string>();
	for (const [name, source] of manifestModules(platform)) {
		if (source.startsWith("$(")) continue;
		const file = path.join(projectRoot, `${source}.ts`);
		if (fs.existsSync(file)) modules.set(name, file);
	}
	return modules;
}

function notPreloaded(platform: string, source: Manifest = manifest): string[] {
	const names = preloadNames(platform, source);
	return [...projectModules(platform).keys()].filter((name) => !names.includes(name));
}

const mutatingMethods = new Set(["push", "pop", "shift", "unshift", "splice", "sort", "reverse", "fill", "copyWithin", "set", "add", "delete", "clear"]);

/**
 * Module-level state a function of this source writes: each finding names
 * the binding and the line. Bindings are resolved by TypeScript's checker,
 * so a local of the same name is not mistaken for the module's.
 */
export function moduleStateWrites(fileName: string, text: string): string[] {
	const host = ts.createCompilerHost({ noLib: true, noResolve: true, target: ts.ScriptTarget.ES2022 });
	const original = host.getSourceFile;
	host.getSourceFile = (name, language) => name === fileName ? ts.createSourceFile(name, text, language, true) : original.call(host, name, language);
	const program = ts.createProgram([fileName], { noLib: true, noResolve: true, types: [], target: ts.ScriptTarget.ES2022 }, host);
	const source = program.getSourceFile(fileName)!;
	const checker = program.getTypeChecker();
	const findings: string[] = [];
	const line = (node: ts.Node): number => source.getLineAndCharacterOfPosition(node.getStart()).line + 1;

	const moduleSymbols = new Set<ts.Symbol>();
	for (const statement of source.statements) {
		if (ts.isVariableStatement(statement)) {
			const mutable = !(statement.declarationList.flags & ts.NodeFlags.Const);
			for (const declaration of statement.declarationList.declarations) {
				if (mutable) findings.push(`${declaration.name.getText()} (line ${line(declaration)}): a module-level let/var`);
				if (ts.isIdentifier(declaration.name)) {
					const symbol = checker.getSymbolAtLocation(declaration.name);
					if (symbol) moduleSymbols.add(symbol);
				}
			}
		} else if ((ts.isClassDeclaration(statement) || ts.isFunctionDeclaration(statement)) && statement.name) {
			const symbol = checker.getSymbolAtLocation(statement.name);
			if (symbol) moduleSymbols.add(symbol);
		}
	}

	/** The module-level binding at the root of `a.b[c].d`, if it is one. */
	const rootBinding = (expression: ts.Expression): ts.Identifier | undefined => {
		let node: ts.Expression = expression;
		while (ts.isPropertyAccessExpression(node) || ts.isElementAccessExpression(node) || ts.isParenthesizedExpression(node) || ts.isNonNullExpression(node) || ts.isAsExpression(node)) node = node.expression;
		if (!ts.isIdentifier(node)) return undefined;
		const symbol = checker.getSymbolAtLocation(node);
		return symbol && moduleSymbols.has(symbol) ? node : undefined;
	};
	const isMember = (node: ts.Expression): boolean => ts.isPropertyAccessExpression(node) || ts.isElementAccessExpression(node);
	const report = (target: ts.Expression, what: string): void => {
		if (!isMember(skipWrappers(target))) return;
		const root = rootBinding(target);
		if (root) findings.push(`${root.text} (line ${line(target)}): ${what} in a function`);
	};

	const visit = (node: ts.Node, inFunction: boolean): void => {
		if (inFunction) {
			if (ts.isBinaryExpression(node) && node.operatorToken.kind >= ts.SyntaxKind.FirstAssignment && node.operatorToken.kind <= ts.SyntaxKind.LastAssignment) report(node.left, "a property written");
			else if ((ts.isPrefixUnaryExpression(node) || ts.isPostfixUnaryExpression(node)) && (node.operator === ts.SyntaxKind.PlusPlusToken || node.operator === ts.SyntaxKind.MinusMinusToken)) report(node.operand, "a property counted");
			else if (ts.isDeleteExpression(node)) report(node.expression, "a property deleted");
			else if (ts.isCallExpression(node)) {
				const callee = node.expression;
				if (ts.isPropertyAccessExpression(callee) && mutatingMethods.has(callee.name.text) && rootBinding(callee.expression)) {
					findings.push(`${rootBinding(callee.expression)!.text} (line ${line(node)}): ${callee.name.text}() in a function`);
				}
				if (ts.isPropertyAccessExpression(callee) && callee.expression.getText() === "Object" && ["assign", "defineProperty", "defineProperties", "setPrototypeOf"].includes(callee.name.text) && node.arguments[0] && rootBinding(node.arguments[0])) {
					findings.push(`${rootBinding(node.arguments[0])!.text} (line ${line(node)}): Object.${callee.name.text}() in a function`);
				}
			}
		}
		const entersFunction = ts.isFunctionLike(node) || ts.isClassStaticBlockDeclaration(node);
		// A class's own static initialisers run with the module body, at build time; its methods run later.
		ts.forEachChild(node, (child) => visit(child, inFunction || (entersFunction && !ts.isClassLike(node))));
	};
	visit(source, false);
	return findings;
}

/**
 * RegExp literals a preloaded module makes in its body: such an object is
 * built into the image, and XS's `exec` on it crashed mcsim (a segmentation
 * fault in fx_RegExp_prototype_exec under heap pressure). Patterns are made
 * where they are used, or the check is written as a loop.
 */
export function moduleRegExps(fileName: string, text: string): string[] {
	const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, true);
	const findings: string[] = [];
	const visit = (node: ts.Node, inFunction: boolean): void => {
		if (!inFunction && node.kind === ts.SyntaxKind.RegularExpressionLiteral) {
			findings.push(`${node.getText()} (line ${source.getLineAndCharacterOfPosition(node.getStart()).line + 1})`);
		}
		const deferred = ts.isFunctionLike(node) || (ts.isPropertyDeclaration(node) && !node.modifiers?.some((modifier) => modifier.kind === ts.SyntaxKind.StaticKeyword));
		ts.forEachChild(node, (child) => visit(child, inFunction || deferred));
	};
	visit(source, false);
	return findings;
}

function skipWrappers(node: ts.Expression): ts.Expression {
	while (ts.isParenthesizedExpression(node) || ts.isNonNullExpression(node) || ts.isAsExpression(node)) node = node.expression;
	return node;
}

describe("preloading: every module of ours is built into the image", function () {
	for (const platform of preloadingPlatforms) {
		it(`${platform}: every project module the manifest maps is in its preload, by name`, function () {
			assert.deepEqual(notPreloaded(platform), []);
		});
	}

	it("notices a module that is mapped but not preloaded, and a wildcard that mcconfig would not apply to TypeScript", function () {
		const without = (name: string): Manifest => ({ ...manifest, preload: (manifest.preload ?? []).filter((entry) => entry !== name) });
		assert.deepEqual(notPreloaded("lin", without("mqtt/session")), ["mqtt/session"]);
		const wildcard: Manifest = { ...manifest, preload: [...(manifest.preload ?? []).filter((entry) => !entry.startsWith("web/")), "web/*"] };
		assert.ok(notPreloaded("esp32", wildcard).includes("web/server"));
	});

	const checks: [string, (fileName: string, text: string) => string[]][] = [
		["writes module-level state after start-up", moduleStateWrites],
		["keeps a RegExp made in its body", moduleRegExps],
	];
	for (const platform of preloadingPlatforms) {
		for (const [what, check] of checks) {
			it(`${platform}: no preloaded module of ours ${what}`, function () {
				const names = preloadNames(platform);
				const findings: string[] = [];
				for (const [name, file] of projectModules(platform)) {
					if (!names.includes(name)) continue;
					for (const finding of check(file, fs.readFileSync(file, "utf8"))) findings.push(`${path.relative(projectRoot, file)}: ${finding}`);
				}
				assert.deepEqual(findings, []);
			});
		}
	}

	it("the RegExp check finds a pattern in a module's body or a static field, not one made in a function", function () {
		const findings = moduleRegExps("sample.ts", `
			const kept = /^[a-z]+$/;
			class Parser { static token = /[0-9]/; field = /x/; check(text: string) { return /y/.test(text); } }
			export const test = (text: string): boolean => /z/.test(text);
		`);
		assert.deepEqual(findings, ["/^[a-z]+$/ (line 2)", "/[0-9]/ (line 3)"]);
	});

	it("the state check catches each kind of write, and not a local or a build-time fill", function () {
		const findings = moduleStateWrites("sample.ts", `
			let count = 0;
			const cache: Record<string, number> = {};
			const queue: number[] = [];
			const table = new Int8Array(4).fill(-1);
			class Registry { static last = 0; }
			for (let i = 0; i < 4; i++) table[i] = i;
			export function touch(key: string): void {
				cache[key] = 1;
				queue.push(2);
				Registry.last++;
				delete cache.old;
				Object.assign(cache, { a: 1 });
			}
			export function local(): void {
				const cache: Record<string, number> = {};
				cache.x = 1;
				const copy = table.slice();
				copy[0] = 1;
			}
		`);
		assert.deepEqual(findings, [
			"count (line 2): a module-level let/var",
			"cache (line 9): a property written in a function",
			"queue (line 10): push() in a function",
			"Registry (line 11): a property counted in a function",
			"cache (line 12): a property deleted in a function",
			"cache (line 13): Object.assign() in a function",
		]);
	});
});
