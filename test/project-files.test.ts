/*
 * What a fresh clone's user meets before any code runs: the lock file as
 * npm itself writes it (so `npm install` leaves the checkout clean), Node's
 * `engines` true to what every locked dependency asks, the license and
 * changelog package.json and the README promise, and test suites named by
 * their layer, each listed in docs/testing.md.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { projectRoot } from "../hosts/xsnap/paths.js";

const read = (file: string): string => fs.readFileSync(path.join(projectRoot, file), "utf8");

type Version = [number, number, number];

function version(text: string): Version {
	const parts = text.replace(/^v/, "").split(".").map((part) => (/^\d+$/.test(part) ? Number(part) : 0));
	return [parts[0] ?? 0, parts[1] ?? 0, parts[2] ?? 0];
}

function compare(a: Version, b: Version): number {
	for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
	return 0;
}

/** Whether `node` satisfies an engines range, in the forms npm packages use (>=, >, <, ^, ~, bare majors, ||, *). */
export function satisfies(node: string, range: string): boolean {
	const have = version(node);
	return range.split("||").some((alternative) => {
		const comparators = alternative.trim().replace(/([<>=^~]+)\s+/g, "$1").split(/\s+/).filter(Boolean);
		return comparators.every((comparator) => {
			const match = /^([<>]=?|\^|~|=)?v?([\dx*.]+)$/.exec(comparator);
			if (!match) throw new Error(`unread engines range ${JSON.stringify(range)}`);
			const [, operator = "", text = ""] = match;
			if (text === "*" || text === "x") return true;
			const digits = text.split(".").filter((part) => /^\d+$/.test(part)).length;
			const want = version(text);
			const order = compare(have, want);
			switch (operator) {
				case ">=": return order >= 0;
				case ">": return order > 0;
				case "<": return order < 0;
				case "<=": return order <= 0;
				case "^": return order >= 0 && have[0] === want[0] && (want[0] !== 0 || have[1] === want[1]);
				case "~": return order >= 0 && have[0] === want[0] && (digits < 2 || have[1] === want[1]);
				default: return digits === 1 ? have[0] === want[0] : digits === 2 ? have[0] === want[0] && have[1] === want[1] : order === 0;
			}
		});
	});
}

describe("the project's own files", function () {
	it("package-lock.json is indented as npm writes it: as package.json (tabs)", function () {
		const indent = (text: string): string => /\n(\s+)"/.exec(text)![1]!;
		assert.equal(indent(read("package-lock.json")), indent(read("package.json")));
		assert.equal(indent(read("package.json")), "\t");
		assert.ok(read("package-lock.json").endsWith("}\n"));
	});

	it("engines: the oldest Node package.json allows runs every locked dependency (no EBADENGINE), and this Node is within it", function () {
		const range = (JSON.parse(read("package.json")) as { engines: { node: string } }).engines.node;
		const oldest = /^>=\s*([\d.]+)$/.exec(range)?.[1];
		assert.ok(oldest, `engines.node is a floor: ${range}`);
		assert.ok(satisfies(process.version, range), `this Node ${process.version} is within ${range}`);
		const lock = JSON.parse(read("package-lock.json")) as { packages: Record<string, { engines?: unknown }> };
		assert.equal(lock.packages[""]!.engines && (lock.packages[""]!.engines as { node: string }).node, range, "the lock records package.json's engines");
		const excluded = Object.entries(lock.packages)
			.filter(([, entry]) => entry.engines && typeof entry.engines === "object" && !Array.isArray(entry.engines) && typeof (entry.engines as { node?: unknown }).node === "string")
			.filter(([, entry]) => !satisfies(oldest!, (entry.engines as { node: string }).node))
			.map(([name, entry]) => `${name} (${(entry.engines as { node: string }).node})`);
		assert.deepEqual(excluded, [], `Node ${oldest} is refused by`);
		assert.match(read("README.md"), new RegExp(`Node\\.js ${oldest!.replace(".", "\\.")} or newer`));
	});

	it("the range reader reads what npm packages write", function () {
		assert.equal(satisfies("20.19.0", ">=22"), false);
		assert.equal(satisfies("20.19.0", "^20.19.0 || >=22.12.0"), true);
		assert.equal(satisfies("20.18.9", "^20.19.0 || >=22.12.0"), false);
		assert.equal(satisfies("20.19.0", "18 || 20 || >=22"), true);
		assert.equal(satisfies("20.19.0", ">= 20.19.0"), true);
		assert.equal(satisfies("20.19.0", "^20.9 || ^22.11"), true);
		assert.equal(satisfies("21.0.0", "^20.9 || ^22.11"), false);
		assert.equal(satisfies("20.19.0", ">=16 || 14 >=14.17"), true);
		assert.equal(satisfies("20.19.0", "*"), true);
	});

	it("LICENSE is the MIT license package.json names; CHANGELOG.md follows Keep a Changelog", function () {
		assert.equal((JSON.parse(read("package.json")) as { license: string }).license, "MIT");
		const license = read("LICENSE");
		assert.match(license, /^MIT License\n\nCopyright \(c\) \d{4} room1 firmware authors\n/);
		assert.match(license, /THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND/);
		const changelog = read("CHANGELOG.md");
		assert.match(changelog, /^# Changelog\n/);
		assert.match(changelog, /keepachangelog\.com/);
		assert.match(changelog, /\n## \[Unreleased\]\n/);
		const version = (JSON.parse(read("package.json")) as { version: string }).version;
		assert.match(changelog, new RegExp(`\\n## \\[${version.replace(/\./g, "\\.")}\\] - \\d{4}-\\d{2}-\\d{2}\\n`));
	});

	it("every test suite is named for its layer and listed in docs/testing.md, and the doc lists none that is gone", function () {
		const layer = /^(mqtt-(codec|parser|session|client)|firmware|web|host|sdk|build|project|bench)(-[\w-]+)?(\.test)?\.ts$/;
		const suites = [
			...fs.readdirSync(path.join(projectRoot, "test")).filter((file) => file.endsWith(".test.ts")).map((file) => `test/${file}`),
			...fs.readdirSync(path.join(projectRoot, "test", "portable")).filter((file) => file.endsWith(".ts")).map((file) => `test/portable/${file}`),
		];
		// The runner of the portable suites, whatever their layers.
		const runner = "test/portable.test.ts";
		assert.ok(suites.includes(runner));
		assert.deepEqual(suites.filter((file) => file !== runner && !layer.test(path.basename(file))), [], "suites whose name starts with no layer");
		const doc = read("docs/testing.md");
		assert.deepEqual(suites.filter((file) => !doc.includes(`| \`${file}\` |`)), [], "suites docs/testing.md does not list");
		const listed = [...doc.matchAll(/^\| `(test\/[\w/.-]+\.ts)` \|/gm)].map((match) => match[1]!);
		assert.deepEqual(listed.filter((file) => !suites.includes(file)), [], "suites docs/testing.md lists that do not exist");
	});

	it("the bench and the rigs import nothing from test/: tests may use tooling, not the other way round", function () {
		const offending: string[] = [];
		const walk = (folder: string): void => {
			for (const entry of fs.readdirSync(path.join(projectRoot, folder), { withFileTypes: true })) {
				const file = path.join(folder, entry.name);
				if (entry.isDirectory()) walk(file);
				else if (entry.name.endsWith(".ts")) {
					for (const match of read(file).matchAll(/(?:from\s+|import\s+|import\(\s*|load\(\s*|module:\s*)"((?:\.\.\/)+test\/[^"]*|test\/[^"]*)"/g)) offending.push(`${file}: ${match[1]}`);
				}
			}
		};
		walk("bench");
		walk("tools");
		assert.deepEqual(offending, []);
	});
});
