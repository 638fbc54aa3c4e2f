/*
 * The firmware type check is a real guard: a file that misuses a Moddable
 * API fails it, line by line, and the same APIs used correctly pass.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import ts from "typescript";
import { projectRoot } from "../tools/rigs/xs.js";

function checkFirmwareFile(file: string): readonly ts.Diagnostic[] {
	const configFile = path.join(projectRoot, "tsconfig.json");
	const parsed = ts.getParsedCommandLineOfConfigFile(configFile, {}, {
		...ts.sys,
		onUnRecoverableConfigFileDiagnostic: (diagnostic) => { throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n")); },
	});
	if (!parsed) throw new Error("cannot read tsconfig.json");
	// The Moddable typings the firmware is checked against, plus the fixture.
	const typings = parsed.fileNames.filter((name) => name.includes("@moddable/typings"));
	const program = ts.createProgram([...typings, file], parsed.options);
	return ts.getPreEmitDiagnostics(program).filter((diagnostic) => diagnostic.file?.fileName === file);
}

describe("firmware type check against @moddable/typings", function () {
	this.timeout(60000);
	const fixtures = path.join(projectRoot, "test", "fixtures", "typecheck");

	it("reports every misuse of a Moddable API in a firmware file", function () {
		const file = path.join(fixtures, "misuses-moddable.ts");
		const diagnostics = checkFirmwareFile(file);
		const lines = fs.readFileSync(file, "utf8").split("\n");
		const expected = lines.flatMap((line, index) => (line.includes("@expect-error") ? [index + 1] : []));
		const reported = new Set(diagnostics.map((d) => d.file!.getLineAndCharacterOfPosition(d.start!).line + 1));
		assert.ok(expected.length >= 5);
		for (const line of expected) assert.ok(reported.has(line), `line ${line} (${lines[line - 1]!.trim()}) was not reported`);
	});

	it("passes the same APIs used correctly", function () {
		const diagnostics = checkFirmwareFile(path.join(fixtures, "uses-moddable.ts"));
		assert.deepEqual(diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n")), []);
	});
});
