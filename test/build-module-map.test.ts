/*
 * One module map: manifest.json defines every module name, per platform.
 * mcconfig's tsc sees only what the manifest lists (a .d.ts included), so
 * for each Moddable platform this walks the import closure from main, as
 * mcconfig would, and fails on a project module the platform does not map
 * or an SDK module whose declarations its tsc cannot reach. The tsconfigs
 * must agree with the manifest for the platform they stand for. No SDK is
 * needed; with one, the declarations the SDK is said to ship are checked
 * to be there.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import ts from "typescript";
import { pathToFileURL } from "node:url";
import { projectRoot } from "../tools/rigs/xs.js";
import { findSdk } from "../tools/rigs/mcsim.js";

type ModuleMap = (platform: string) => Map<string, string>;
// The build script's reading of the manifest, so the map is read one way only.
const { manifestModules: readModules } = await import(pathToFileURL(path.join(projectRoot, "scripts/build.mjs")).href) as { manifestModules: ModuleMap };
const moddablePlatforms = ["esp32", "lin", "mac", "win"];
const typings = path.join(projectRoot, "node_modules/@moddable/typings");

/**
 * Drivers whose declarations Moddable ships beside their JavaScript, which
 * mcconfig's tsc finds through the included driver manifest.
 */
const shippedBySdk: Record<string, string> = {
	onewire: "modules/drivers/onewire/onewire.d.ts",
	DS18X20: "modules/drivers/onewire/DS18X20.d.ts",
	// In the SDK's own typings folder, newer than @moddable/typings.
	"embedded:update": "typings/embedded/update.d.ts",
	"embedded:storage/flash": "typings/embedded/storage/flash.d.ts",
	crypt: "typings/crypt.d.ts",
};

/** mcconfig writes mc.ffi.d.ts itself, from the "ffi" functions a platform's manifest section names. */
function generatedByMcconfig(name: string, platform: string): boolean {
	if (name !== "mc/ffi") return false;
	const manifest = JSON.parse(fs.readFileSync(path.join(projectRoot, "manifest.json"), "utf8")) as { ffi?: unknown; platforms: Record<string, { ffi?: unknown }> };
	return manifest.ffi !== undefined || manifest.platforms[platform]?.ffi !== undefined;
}

/** The file Moddable's typings map (examples/manifest_typings.json) gives a module name. */
function typingsFile(name: string): string {
	const prefixes: [string, string][] = [
		["embedded:io/", "embedded_io/"], ["embedded:network/", "embedded_network/"], ["embedded:provider/", "embedded_provider/"], ["embedded:", "embedded/"],
	];
	const [from, to] = prefixes.find(([prefix]) => name.startsWith(prefix)) ?? ["", ""];
	return to + name.slice(from.length) + ".d.ts";
}

/** Typings files a platform adds to every compile (its manifest's typescript `types`), as @moddable/typings files. */
function platformTypes(platform: string): string[] {
	const manifest = JSON.parse(fs.readFileSync(path.join(projectRoot, "manifest.json"), "utf8")) as {
		platforms: Record<string, { typescript?: { tsconfig?: { compilerOptions?: { types?: string[] } } } }>;
	};
	const types = manifest.platforms[platform]?.typescript?.tsconfig?.compilerOptions?.types ?? [];
	return types.map((type) => path.join(typings, type.replace(/^\$\(MODDABLE\)\/typings\//, "") + ".d.ts"));
}

/** The SDK declares it: by its typings map, in a typings file the platform compiles with, or beside a driver. */
function declaredBySdk(name: string, platform: string): boolean {
	if (fs.existsSync(path.join(typings, typingsFile(name))) || name in shippedBySdk || generatedByMcconfig(name, platform)) return true;
	return platformTypes(platform).some((file) => fs.existsSync(file) && fs.readFileSync(file, "utf8").includes(`declare module "${name}"`));
}

const isProjectSource = (source: string): boolean => !source.startsWith("$(");

function sourceFile(source: string): string | undefined {
	return [".ts", ".d.ts"].map((extension) => path.join(projectRoot, source + extension)).find((file) => fs.existsSync(file));
}

function importsOf(file: string): string[] {
	return ts.preProcessFile(fs.readFileSync(file, "utf8"), true, true).importedFiles.map((entry) => entry.fileName);
}

/** Every project module name on any platform, so a name one platform lacks is recognised as ours. */
function allProjectNames(modulesOf: ModuleMap): Set<string> {
	const manifest = JSON.parse(fs.readFileSync(path.join(projectRoot, "manifest.json"), "utf8")) as { platforms: Record<string, { error?: string }> };
	const names = new Set<string>();
	for (const [platform, section] of Object.entries(manifest.platforms)) {
		if (section.error) continue;
		for (const [name, source] of modulesOf(platform)) if (isProjectSource(source)) names.add(name);
	}
	return names;
}

/** The problems mcconfig's tsc would meet on this platform, starting from main. */
function closureProblems(platform: string, modulesOf: ModuleMap = readModules): string[] {
	const names = modulesOf(platform);
	const ours = allProjectNames(modulesOf);
	const problems: string[] = [];
	const seen = new Set<string>();
	const visit = (name: string): void => {
		if (seen.has(name)) return;
		seen.add(name);
		const file = sourceFile(names.get(name)!)!;
		if (file.endsWith(".d.ts")) return;
		for (const specifier of importsOf(file)) {
			const source = names.get(specifier);
			if (source !== undefined && isProjectSource(source)) {
				if (!sourceFile(source)) problems.push(`${name} imports "${specifier}", mapped to ${source}, which does not exist`);
				else visit(specifier);
			} else if (declaredBySdk(specifier, platform)) {
				continue;
			} else if (ours.has(specifier)) {
				problems.push(`${name} imports "${specifier}", which the ${platform} section of manifest.json does not map`);
			} else {
				problems.push(`${name} imports "${specifier}": no declarations mcconfig's tsc can reach (not in Moddable's typings, no .d.ts listed for ${platform})`);
			}
		}
	};
	visit("main");
	return problems;
}

/** tsconfig `paths` as manifest names → files without extension, wildcards expanded like the manifest's. */
function tsconfigPaths(file: string): Map<string, string> {
	const { config } = ts.readConfigFile(path.join(projectRoot, file), ts.sys.readFile);
	const paths = config.compilerOptions.paths as Record<string, string[]>;
	const map = new Map<string, string>();
	for (const [key, [target]] of Object.entries(paths)) {
		// Test and bench modules are built beside the firmware's (scripts/build.mjs), never shipped.
		if (key.startsWith("test/") || key.startsWith("bench/")) continue;
		const relative = target!.replace(/^\.\//, "").replace(/(\.d)?\.ts$/, "");
		if (!key.includes("*")) {
			map.set(key, relative);
			continue;
		}
		const folder = path.join(projectRoot, path.dirname(relative));
		for (const entry of fs.readdirSync(folder)) {
			if (entry.endsWith(".ts") && !entry.endsWith(".d.ts")) map.set(key.replace("*", entry.slice(0, -3)), path.join(path.dirname(relative), entry.slice(0, -3)));
		}
	}
	return map;
}

describe("one module map: manifest.json", function () {
	for (const platform of moddablePlatforms) {
		it(`${platform}: every import from main is mapped, with declarations mcconfig's tsc can reach`, function () {
			assert.deepEqual(closureProblems(platform), []);
		});
	}

	it("catches a project module a platform forgets, and a .d.ts the manifest does not list", function () {
		// The two faults that broke the ESP32 build, put back on a copy of the map.
		const check = (missing: string): string[] => closureProblems("esp32", (platform) => {
			const map = new Map(readModules(platform));
			if (platform === "esp32") map.delete(missing);
			return map;
		});
		assert.deepEqual(check("host/socket"), [
			`host imports "host/socket", which the esp32 section of manifest.json does not map`,
			`host/runtime imports "host/socket", which the esp32 section of manifest.json does not map`,
			`host/listener imports "host/socket", which the esp32 section of manifest.json does not map`,
			`host/resolver imports "host/socket", which the esp32 section of manifest.json does not map`,
		]);
		assert.deepEqual(check("embedded:sensor/Temperature/TMP102"), [
			`host imports "embedded:sensor/Temperature/TMP102": no declarations mcconfig's tsc can reach (not in Moddable's typings, no .d.ts listed for esp32)`,
		]);
	});

	it("tsconfig.json (the firmware, as on the ESP32) and tsconfig.node.json (the Node host) agree with it", function () {
		// tsconfig.json also checks the XS host simulator's XS side, whose own modules (simulated/socket, simulated/timers, simulated/sensor)
		// the xsnap section maps and the device never ships.
		const simulator = readModules("xsnap");
		for (const [file, platform] of [["tsconfig.json", "esp32"], ["tsconfig.node.json", "node"]] as const) {
			const manifest = readModules(platform);
			for (const [name, target] of tsconfigPaths(file)) {
				if (name === "main") continue;
				if (platform === "esp32" && !manifest.has(name) && simulator.get(name) === target) continue;
				assert.equal(manifest.get(name), target, `${file} maps "${name}" to ${target}; manifest.json's ${platform} section maps it to ${manifest.get(name) ?? "nothing"}`);
			}
		}
	});

	it("the declarations said to ship with the SDK are there", function () {
		const sdk = findSdk();
		if ("missing" in sdk) {
			console.log(`      (skipped: ${sdk.missing})`);
			this.skip();
		}
		const { moddable } = sdk as { moddable: string };
		for (const [name, file] of Object.entries(shippedBySdk)) assert.ok(fs.existsSync(path.join(moddable, file)), `${name}: ${file}`);
	});
});
