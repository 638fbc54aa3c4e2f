/*
 * The engine bench's Node half: builds the release xsnap CLI engines
 * (scripts/engines/build-xsnap.sh cli), installs the board's socket wrapper
 * (hosts/moddable/socket.ts over the bench's ECMA-419 TCP socket) and, when
 * there is an SDK, Moddable's MQTT client, then meters each side of each
 * path of bench/xs/paths in an engine of its own (bench/xs/engine-driver):
 * one client's rig cannot run, arm a timer or hold a socket during another's
 * metered loop, and the driver refuses to meter if anything is alive.
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
import { projectRoot, xsModuleRoot } from "../tools/rigs/xs.js";

export interface EngineResult {
	engine: string;
	/** What `xsnap -v` prints. */
	version: string;
	binary: string;
	/** Whether Moddable's client was measured, or why not. */
	moddableClient: string;
	/** What the ArrayBuffer.fromString stand-in costs per topic (Moddable's side only). */
	shimUnits: number;
	results: PathResult[];
}

export interface PathResult {
	name: string;
	/** Ceiling in units for ours, judged on the board's engine. */
	target?: number;
	/** Floor for Moddable's ÷ ours, judged on the board's engine. */
	ratio?: number;
	ours: Measured;
	theirs?: Measured;
}

export interface Measured {
	units: number;
	slots: number;
	/** Timers the rig had armed when it was built (its own). */
	timers: number;
}

export interface EngineBenchOptions {
	/** Engines to measure; default: XS 17.7 when an SDK is found, and XS 13.3. */
	engines?: ("xs13" | "xs17")[];
	/** Metered runs per job (default 1,000). */
	runs?: number;
	/** Runs per slot batch (default 40). */
	slotRuns?: number;
	/** The SDK folder; false measures without one (ours only). Default: moddableSdk(). */
	sdk?: string | false;
}

/** The SDK folder, if this machine has one: $MODDABLE when set (so MODDABLE=none runs as a machine without one), else setup.sh's. */
export function moddableSdk(): string | undefined {
	const folder = process.env.MODDABLE ?? path.join(os.homedir(), ".cache", "moddable-sdk-8.2.3", "moddable");
	return fs.existsSync(path.join(folder, "xs", "sources", "xsCommon.h")) ? folder : undefined;
}

export function buildEngine(engine: "xs13" | "xs17", sdk?: string): string {
	const script = path.join(projectRoot, "scripts", "engines", "build-xsnap.sh");
	const output = execFileSync("bash", [script, "cli", engine, ...(sdk ? [sdk] : [])], { cwd: projectRoot, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 });
	return output.trim().split("\n").pop()!;
}

/** Moddable's client and the two SDK modules it imports, laid out where the engine resolves them. */
function installModdableClient(sdk: string): void {
	const source = path.join(sdk, "examples", "io", "tcp", "mqttclient", "mqttclient.js");
	fs.mkdirSync(path.join(xsModuleRoot, "moddable"), { recursive: true });
	fs.copyFileSync(source, path.join(xsModuleRoot, "moddable", "mqttclient"));
	installModdableTimer();
}

/** Moddable's `timer` and `time` on the bench's virtual clock: Moddable's client and the board's socket wrapper import them. */
function installModdableTimer(): void {
	fs.writeFileSync(path.join(xsModuleRoot, "timer"), 'export { default } from "bench/xs/moddable-timer";\n');
	fs.writeFileSync(path.join(xsModuleRoot, "time"), 'export { Time as default } from "bench/xs/moddable-timer";\n');
}

/**
 * The board's socket wrapper, hosts/moddable/socket.ts as built, as module
 * "bench/board-socket", with its ECMA-419 imports pointed at the bench's TCP
 * socket (and a TLS socket that refuses to open): what a manifest's module
 * map does on a board.
 */
export function installBoardSocket(): void {
	const built = fs.readFileSync(path.join(projectRoot, "build", "js", "hosts", "moddable", "socket.js"), "utf8");
	const mapped = { "embedded:io/socket/tcp/tls": "bench/xs/no-tls", "embedded:io/socket/tcp": "bench/xs/ecma419-tcp" };
	let text = built.replace(/\n\/\/# sourceMappingURL=.*\n?$/, "\n");
	for (const [from, to] of Object.entries(mapped)) {
		const specifier = new RegExp(`(from\\s+)"${from.replace(/[/]/g, "\\/")}"`);
		if (!specifier.test(text)) throw new Error(`hosts/moddable/socket.js no longer imports "${from}": the bench cannot map it`);
		text = text.replace(specifier, `$1"${to}"`);
	}
	fs.mkdirSync(path.join(xsModuleRoot, "bench"), { recursive: true });
	fs.writeFileSync(path.join(xsModuleRoot, "bench", "board-socket"), text);
	installModdableTimer();
}

/** Runs a script in a fresh xsnap CLI engine and returns the JSON it printed on its ENGINE-BENCH line. */
export function inFreshEngine<T>(binary: string, script: string, what: string): T {
	const output = execFileSync(binary, ["-e", script], { cwd: xsModuleRoot, encoding: "utf8", maxBuffer: 64 << 20 });
	const error = /^ENGINE-BENCH-ERROR (.*)$/m.exec(output);
	if (error) throw new Error(`${what}: ${JSON.parse(error[1]!) as string}`);
	const line = /^ENGINE-BENCH (.*)$/m.exec(output);
	if (!line) throw new Error(`${what} printed no result:\n${output}`);
	return JSON.parse(line[1]!) as T;
}

export function driverCall(call: string): string {
	return `import("bench/xs/engine-driver").then((driver) => driver.${call})`;
}

/** Every path, each side in an engine of its own. */
function run(engine: string, binary: string, options: EngineBenchOptions, withModdable: boolean): EngineResult {
	const version = execFileSync(binary, ["-v"], { encoding: "utf8" }).trim();
	const listed = inFreshEngine<{ name: string; target?: number; ratio?: number; theirs: boolean }[]>(binary, driverCall("list()"), `engine bench on ${engine}`);
	let shimUnits = 0;
	const results = listed.map((path, index): PathResult => {
		const job = (side: "ours" | "theirs") => JSON.stringify({ path: index, side, runs: options.runs ?? 1000, slotRuns: options.slotRuns ?? 40 });
		const ours = inFreshEngine<Measured>(binary, driverCall(`job(${job("ours")})`), `${engine}, ${path.name}, ours`);
		let theirs: (Measured & { shimUnits: number }) | undefined;
		if (withModdable && path.theirs) {
			theirs = inFreshEngine<Measured & { shimUnits: number }>(binary, driverCall(`job(${job("theirs")})`), `${engine}, ${path.name}, Moddable's`);
			shimUnits = theirs.shimUnits;
		}
		return {
			name: path.name,
			...(path.target === undefined ? {} : { target: path.target }),
			...(path.ratio === undefined ? {} : { ratio: path.ratio }),
			ours,
			...(theirs ? { theirs: { units: theirs.units, slots: theirs.slots, timers: theirs.timers } } : {}),
		};
	});
	return { engine, version, binary, moddableClient: withModdable ? "loaded" : "not measured: no SDK", shimUnits, results };
}

/** Every engine this machine can build (or those asked for), XS 17 (the board's) first; and what was skipped, and why. */
export function engineBench(options: EngineBenchOptions = {}): { results: EngineResult[]; skipped: string[] } {
	const sdk = options.sdk === false ? undefined : options.sdk ?? moddableSdk();
	const engines = options.engines ?? ["xs17", "xs13"];
	const skipped: string[] = [];
	const results: EngineResult[] = [];
	installBoardSocket();
	if (sdk) installModdableClient(sdk);
	else skipped.push("no Moddable SDK ($MODDABLE or ~/.cache/moddable-sdk-8.2.3/moddable): XS 17.7 engine and Moddable's client not measured");
	if (engines.includes("xs17") && sdk) results.push(run("xs17", buildEngine("xs17", sdk), options, true));
	if (engines.includes("xs13")) results.push(run("xs13", buildEngine("xs13"), options, sdk !== undefined));
	return { results, skipped };
}

/** (a) in parts (bench/xs/reading-parts), on one engine. */
export interface ReadingParts {
	/** What one mark costs, taken off every part. */
	perMark: number;
	parts: { part: string; units: number; slots: number }[];
	sum: number;
	/** Slots allocated per reading, over all parts. */
	slots: number;
}

export function readingParts(binary: string, runs = 1000): ReadingParts {
	installBoardSocket();
	return inFreshEngine<ReadingParts>(binary, `import("bench/xs/reading-parts").then((parts) => parts.readingParts(${runs}))`, "(a) in parts");
}
