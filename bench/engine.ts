/*
 * The engine bench's Node half: builds the release xsnap CLI engines
 * (scripts/engines/build-xsnap.sh cli), copies Moddable's MQTT client out of
 * the SDK when there is one, runs bench/xs/engine-driver in each engine and
 * returns what it measured.
 *
 * - XS 13.3, from @agoric/xsnap's bundled XS: always (it needs cc and make,
 *   which installing @agoric/xsnap needed too).
 * - XS 17.7, the Moddable SDK 8.2.3's XS, the engine a board runs: when an
 *   SDK is found ($MODDABLE, else ~/.cache/moddable-sdk-8.2.3/moddable).
 * - Moddable's client is measured only with an SDK: it is not ours to commit.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { projectRoot, xsModuleRoot } from "../test/support/xs.js";

export interface EngineResult {
	engine: string;
	/** What `xsnap -v` prints. */
	version: string;
	binary: string;
	moddableClient: string;
	shimUnits: number;
	results: { name: string; target?: number; ours: Measured; theirs?: Measured }[];
}

export interface Measured {
	units: number;
	slots: number;
}

/** The SDK folder, if this machine has one: $MODDABLE when set (so MODDABLE=none runs as a machine without one), else setup.sh's. */
export function moddableSdk(): string | undefined {
	const folder = process.env.MODDABLE ?? path.join(os.homedir(), ".cache", "moddable-sdk-8.2.3", "moddable");
	return fs.existsSync(path.join(folder, "xs", "sources", "xsCommon.h")) ? folder : undefined;
}

function buildEngine(engine: "xs13" | "xs17", sdk?: string): string {
	const script = path.join(projectRoot, "scripts", "engines", "build-xsnap.sh");
	const output = execFileSync("bash", [script, "cli", engine, ...(sdk ? [sdk] : [])], { cwd: projectRoot, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 });
	return output.trim().split("\n").pop()!;
}

/** Moddable's client and the two SDK modules it imports, laid out where the engine resolves them. */
function installModdableClient(sdk: string): void {
	const source = path.join(sdk, "examples", "io", "tcp", "mqttclient", "mqttclient.js");
	fs.mkdirSync(path.join(xsModuleRoot, "moddable"), { recursive: true });
	fs.copyFileSync(source, path.join(xsModuleRoot, "moddable", "mqttclient"));
	fs.writeFileSync(path.join(xsModuleRoot, "timer"), 'export { default } from "bench/xs/moddable-timer";\n');
	fs.writeFileSync(path.join(xsModuleRoot, "time"), 'export { Time as default } from "bench/xs/moddable-timer";\n');
}

function run(engine: string, binary: string): EngineResult {
	const version = execFileSync(binary, ["-v"], { encoding: "utf8" }).trim();
	const output = execFileSync(binary, ["-m", "bench/xs/engine-driver"], { cwd: xsModuleRoot, encoding: "utf8", maxBuffer: 64 << 20 });
	const error = /^ENGINE-BENCH-ERROR (.*)$/m.exec(output);
	if (error) throw new Error(`engine bench on ${engine}: ${JSON.parse(error[1]!) as string}`);
	const line = /^ENGINE-BENCH (.*)$/m.exec(output);
	if (!line) throw new Error(`engine bench on ${engine} printed no result:\n${output}`);
	return { engine, version, binary, ...(JSON.parse(line[1]!) as Omit<EngineResult, "engine" | "version" | "binary">) };
}

/** Every engine this machine can build, XS 17 (the board's) first; and what was skipped, and why. */
export function engineBench(): { results: EngineResult[]; skipped: string[] } {
	const sdk = moddableSdk();
	const skipped: string[] = [];
	const results: EngineResult[] = [];
	if (sdk) {
		installModdableClient(sdk);
		results.push(run("xs17", buildEngine("xs17", sdk)));
	} else {
		skipped.push("no Moddable SDK ($MODDABLE or ~/.cache/moddable-sdk-8.2.3/moddable): XS 17.7 engine and Moddable's client not measured");
	}
	results.push(run("xs13", buildEngine("xs13")));
	return { results, skipped };
}
