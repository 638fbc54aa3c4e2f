/*
 * `npm run bench`: figures that matter on a microcontroller, measured the
 * same way every run. XS figures are metered compute (XS counts the work it
 * does, so they are deterministic); times are medians over many runs.
 * Prints a table and writes bench/results/latest.json.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { XsRunner, projectRoot } from "../tools/rigs/xs.js";
import { systemBenches } from "./system.js";
import { engineBench, readingParts, type EngineResult } from "./engine.js";
import { esp32Sizes, isMqttStack, mqttStackCeiling } from "./size.js";
import { esp32Equivalent, moddableRam, stackSlots, type Sample } from "./moddable-ram.js";
import { median, missed, round, type Figure } from "./figures.js";
import { webFigures } from "./web.js";

const figures: Figure[] = [];

function record(figure: Figure): void {
	figures.push(figure);
	const bound = figure.target !== undefined ? `<= ${figure.target}` : figure.minimum !== undefined ? `>= ${figure.minimum}` : "";
	const verdict = bound ? `  ${bound} ${missed(figure) ? "MISSED" : "ok"}` : "";
	console.log(`${figure.name.padEnd(84)} ${String(figure.value).padStart(10)} ${figure.unit}${verdict}${figure.note ? `  (${figure.note})` : ""}`);
}

async function bridge(): Promise<void> {
	const starts: number[] = [];
	for (let i = 0; i < 10; i++) {
		const t0 = performance.now();
		const runner = await XsRunner.start();
		starts.push(performance.now() - t0);
		await runner.close();
	}
	record({ name: "XS bridge: engine start-up, to first module loaded (median of 10)", value: round(median(starts), 2), unit: "ms" });

	const runner = await XsRunner.start();
	const trips: number[] = [];
	const request = new TextEncoder().encode(JSON.stringify({ kind: "names", module: "bench/xs/bridge" }));
	await runner.load("bench/xs/bridge");
	for (let i = 0; i < 2000; i++) {
		const t0 = performance.now();
		await runner.worker.command(request);
		trips.push(performance.now() - t0);
	}
	record({ name: "XS bridge: round trip of one event, Node -> XS -> Node (median of 2000)", value: round(median(trips) * 1000, 1), unit: "us" });
	await runner.close();
}

/**
 * XS metered cost of the operations bench/xs modules export as `benches`
 * (the web page's requests), in the XS host simulator's engine: the
 * `xsnap-worker`, XS 13.3 with mxDebug. The firmware's MQTT paths are
 * metered on release engines by xsPaths.
 */
async function xsMeters(): Promise<void> {
	const names = JSON.parse(fs.readFileSync(path.join(projectRoot, "build", "js", "modules.json"), "utf8")) as Record<string, string>;
	const runner = await XsRunner.start();
	for (const module of Object.keys(names).filter((name) => name.startsWith("bench/xs/")).sort()) {
		const namespace = await import(module) as { benches?: Record<string, unknown>; targets?: Record<string, number> };
		for (const name of Object.keys(namespace.benches ?? {})) {
			const count = 1000;
			const compute = await runner.meter(module, name, count);
			const target = namespace.targets?.[name];
			record({ name: `XS metered (xsnap-worker, XS 13.3): ${name}`, value: round(compute / count, 1), unit: "units/op", ...(target !== undefined ? { target } : {}) });
			record({ name: `XS slots allocated (xsnap-worker, XS 13.3): ${name}`, value: round(await runner.slotsPerRun(module, name, 200), 1), unit: "slots/op" });
		}
	}
	await runner.close();
}

/** Slots a reading may allocate, on the board's engine. */
const readingSlots = 4;

/**
 * XS metered cost of the firmware's real paths, ours behind the board's
 * socket wrapper beside Moddable's own client on the bare ECMA-419 socket,
 * each side of each path in a fresh release xsnap CLI engine: XS 17.7 (the
 * SDK's, a board's) and XS 13.3 (@agoric/xsnap's). Targets are judged on the
 * board's engine, or on XS 13 where no SDK is present.
 */
function xsPaths(): { engines: string[]; skipped: string[] } {
	const { results, skipped } = engineBench();
	for (const note of skipped) console.log(`skipped: ${note}`);
	const judged = results[0]!.engine;
	for (const engine of results) {
		const judge = engine.engine === judged;
		console.log(`\nXS metered, ${engine.version}, release xsnap CLI, each side of each path in a fresh engine${judge ? " (targets judged here)" : ""}; Moddable's client: ${engine.moddableClient === "loaded" ? "measured" : engine.moddableClient}`);
		for (const result of engine.results) {
			const name = `[${engine.version}] ${result.name}`;
			record({ name: `${name}: ours, behind hosts/moddable/socket.ts`, value: round(result.ours.units, 1), unit: "units/op", ...(judge && result.target !== undefined ? { target: result.target } : {}) });
			if (result.theirs) {
				record({ name: `${name}: Moddable's client, bare socket`, value: round(result.theirs.units, 1), unit: "units/op" });
				record({ name: `${name}: Moddable's / ours`, value: round(result.theirs.units / result.ours.units, 2), unit: "x", ...(judge && result.ratio !== undefined ? { minimum: result.ratio } : {}) });
			}
			const reading = result.name.startsWith("(a)");
			record({ name: `${name}: slots allocated, ours`, value: round(result.ours.slots, 1), unit: "slots/op", ...(judge && reading ? { target: readingSlots } : {}) });
			if (result.theirs) record({ name: `${name}: slots allocated, Moddable's client`, value: round(result.theirs.slots, 1), unit: "slots/op" });
		}
		if (engine.moddableClient === "loaded") {
			record({ name: `[${engine.version}] of Moddable's figures: the ArrayBuffer.fromString stand-in, per topic encoded`, value: round(engine.shimUnits, 1), unit: "units", note: "native on a device" });
		}
		if (judge) {
			printPathTable(engine);
			const parts = readingParts(engine.binary);
			console.log(`\n(a) in parts, ${engine.version} (bench/xs/reading-parts; a mark's own ${round(parts.perMark, 1)} units taken off each part)`);
			for (const { part, units, slots } of parts.parts) console.log(`${String(round(units, 1)).padStart(8)} units ${String(round(slots, 1)).padStart(5)} slots  ${part}`);
			console.log(`${String(round(parts.sum, 1)).padStart(8)} units ${String(round(parts.slots, 1)).padStart(5)} slots  the sum of the parts`);
		}
	}
	return { engines: results.map((engine) => `${engine.version} (${engine.binary})`), skipped };
}

/** The comparison as one table: units per operation, the ratio and the target, then slots. */
function printPathTable(engine: EngineResult): void {
	const number = (value: number | undefined): string => value === undefined ? "" : value.toLocaleString("en-US", { maximumFractionDigits: 1 });
	const rows = engine.results.filter((result) => result.target !== undefined || result.ratio !== undefined);
	console.log(`\n| ${engine.version}, units per operation | ours, behind hosts/moddable/socket.ts | Moddable's mqttclient.js, bare socket | ratio | target |`);
	console.log("|---|---:|---:|---:|---|");
	for (const result of rows) {
		const ratio = result.theirs ? result.theirs.units / result.ours.units : undefined;
		const bounds = [result.target !== undefined ? `<= ${number(result.target)}` : "", result.ratio !== undefined ? `>= ${result.ratio}x` : ""].filter(Boolean).join(", ");
		const met = (result.target === undefined || result.ours.units <= result.target) && (result.ratio === undefined || ratio === undefined || ratio >= result.ratio);
		console.log(`| ${result.name} | ${number(result.ours.units)} | ${number(result.theirs?.units)} | ${ratio === undefined ? "" : `${ratio.toFixed(2)}x`} | ${bounds}: ${met ? "met" : "MISSED"} |`);
	}
	console.log(`\n| ${engine.version}, slots allocated per operation | ours | Moddable's | target |`);
	console.log("|---|---:|---:|---|");
	for (const result of engine.results.filter((each) => /^\((a|b)\)/.test(each.name))) {
		const reading = result.name.startsWith("(a)");
		console.log(`| ${result.name} | ${number(result.ours.slots)} | ${number(result.theirs?.slots)} | ${reading ? `<= ${readingSlots}: ${result.ours.slots <= readingSlots ? "met" : "MISSED"}` : ""} |`);
	}
}

/** ESP32 bytecode per module, from the SDK's host steps. */
function bytecode(): string | undefined {
	const report = esp32Sizes();
	if ("skipped" in report) {
		console.log(`skipped: ${report.skipped}`);
		return report.skipped;
	}
	console.log("\nESP32 bytecode (npm run size: the SDK's host steps, mcconfig -p esp32, tsc, xsc, xsl)");
	for (const { module, bytes } of report.modules) record({ name: `ESP32 bytecode: ${module}${isMqttStack(module) ? " (MQTT stack)" : ""}`, value: bytes, unit: "bytes" });
	record({ name: "ESP32 bytecode: the MQTT stack (mqtt/*, utf8 and backoff)", value: report.mqttStack, unit: "bytes", target: mqttStackCeiling });
	record({ name: "ESP32 bytecode: the whole project", value: report.total, unit: "bytes" });
	record({ name: "ESP32 bytecode: Moddable's mqttclient, compiled the same way", value: report.moddableMqttClient, unit: "bytes" });
	return undefined;
}

/**
 * RAM on the real SDK (instrumented desktop-simulator build in mcsim).
 * ROOM1_RAM_READINGS sets how many readings (default 1,000: the shortest
 * sensor interval is 100 ms, so 10,000 take 17 minutes).
 */
async function sdkRam(): Promise<string | undefined> {
	const readings = Number(process.env.ROOM1_RAM_READINGS ?? 1000);
	const ours = await moddableRam(readings);
	if ("skipped" in ours) {
		console.log(`skipped: RAM on the real SDK: ${ours.skipped}`);
		return `RAM on the real SDK: ${ours.skipped}`;
	}
	const theirs = await moddableRam(readings, "moddable-mqttclient");
	if ("skipped" in theirs) throw new Error(theirs.skipped);
	console.log("\nRAM on the real SDK: mcconfig -m -p lin -i, in mcsim, lowest sample of 10 s. The firmware over TLS, a reading every 500 ms, its page served; Moddable's client app over TCP, a reading every 100 ms");
	console.log(`ESP32 equivalent = slots × 16 B (32 B in the simulator) + chunks as measured + the reserved stack (${stackSlots} slots) × 16 B; budget 65,536 B`);
	const change = (after: number, before: number): string => `${after - before >= 0 ? "+" : ""}${after - before} bytes`;
	for (const [who, ram] of [["the firmware", ours], ["Moddable's mqttclient app", theirs]] as const) {
		const stages: [string, Sample | undefined][] = [["after boot", ram.boot], ["after connect", ram.connected], ["after the page", ram.page], [`after ${readings} more readings`, ram.after]];
		for (const [stage, sample] of stages) {
			if (!sample) continue;
			record({ name: `SDK simulator, ${who}: ${stage}: XS slots / chunks`, value: sample.slotBytes / 32, unit: "slots", note: `${sample.chunkBytes} chunk bytes; ESP32 equivalent ${Math.round(esp32Equivalent(sample, who === "the firmware" ? stackSlots : 384))} bytes` });
		}
		record({ name: `SDK simulator, ${who}: XS slot heap used after ${readings} more readings`, value: ram.after.slotBytes, unit: "bytes", note: change(ram.after.slotBytes, ram.boot.slotBytes) });
		record({ name: `SDK simulator, ${who}: garbage collections a minute while readings flow`, value: Math.round(ram.collectionsPerMinute), unit: "" });
	}
	return undefined;
}

console.log(`room1 firmware benchmarks on ${os.cpus()[0]?.model ?? "unknown CPU"}, node ${process.version}\n`);
await bridge();
const engines = xsPaths();
await xsMeters();
await webFigures(record);
const bytecodeSkipped = bytecode();
const ramSkipped = await sdkRam();
await systemBenches(record);

const results = {
	date: new Date().toISOString(),
	machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, platform: `${os.platform()} ${os.release()}` },
	engines,
	skipped: [...engines.skipped, ...(bytecodeSkipped ? [bytecodeSkipped] : []), ...(ramSkipped ? [ramSkipped] : [])],
	figures,
};
fs.mkdirSync(path.join(projectRoot, "bench", "results"), { recursive: true });
fs.writeFileSync(path.join(projectRoot, "bench", "results", "latest.json"), JSON.stringify(results, null, "\t") + "\n");
const misses = figures.filter(missed);
console.log(`\nwrote bench/results/latest.json; ${misses.length ? `${misses.length} target(s) missed` : "every target met"}`);
process.exitCode = misses.length ? 1 : 0;
