/*
 * `npm run bench`: figures that matter on a microcontroller, measured the
 * same way every run. XS figures are metered compute (XS counts the work it
 * does, so they are deterministic); times are medians over many runs.
 * Prints a table and writes bench/results/latest.json.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { XsRunner, projectRoot } from "../test/support/xs.js";
import { systemBenches } from "./system.js";
import { median, round, type Figure } from "./figures.js";
import { webFigures } from "./web.js";

const figures: Figure[] = [];

function record(figure: Figure): void {
	figures.push(figure);
	const verdict = figure.target === undefined ? "" : figure.value <= figure.target ? `  <= ${figure.target} ok` : `  > ${figure.target} MISSED`;
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
	await runner.load("bench/xs/bridge");
	const trips: number[] = [];
	const request = new TextEncoder().encode(JSON.stringify({ kind: "names", module: "test/portable/smoke" }));
	await runner.load("test/portable/smoke");
	for (let i = 0; i < 2000; i++) {
		const t0 = performance.now();
		await runner.worker.command(request);
		trips.push(performance.now() - t0);
	}
	record({ name: "XS bridge: round trip of one event, Node -> XS -> Node (median of 2000)", value: round(median(trips) * 1000, 1), unit: "us" });
	await runner.close();
}

async function xsMeters(): Promise<void> {
	const names = JSON.parse(fs.readFileSync(path.join(projectRoot, "build", "js", "modules.json"), "utf8")) as Record<string, string>;
	const runner = await XsRunner.start();
	for (const module of Object.keys(names).filter((name) => name.startsWith("bench/xs/")).sort()) {
		const namespace = await import(module) as { benches?: Record<string, unknown>; targets?: Record<string, number> };
		for (const name of Object.keys(namespace.benches ?? {})) {
			const count = 1000;
			const compute = await runner.meter(module, name, count);
			const target = namespace.targets?.[name];
			record({ name: `XS metered: ${name}`, value: round(compute / count, 1), unit: "units/op", ...(target !== undefined ? { target } : {}) });
			record({ name: `XS slots allocated: ${name}`, value: round(await runner.slotsPerRun(module, name, 200), 1), unit: "slots/op" });
		}
	}
	await runner.close();
}

console.log(`room1 firmware benchmarks on ${os.cpus()[0]?.model ?? "unknown CPU"}, node ${process.version}\n`);
await bridge();
await xsMeters();
await webFigures(record);
await systemBenches(record);

const results = {
	date: new Date().toISOString(),
	machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, platform: `${os.platform()} ${os.release()}` },
	figures,
};
fs.mkdirSync(path.join(projectRoot, "bench", "results"), { recursive: true });
fs.writeFileSync(path.join(projectRoot, "bench", "results", "latest.json"), JSON.stringify(results, null, "\t") + "\n");
const missed = figures.filter((figure) => figure.target !== undefined && figure.value > figure.target);
console.log(`\nwrote bench/results/latest.json; ${missed.length ? `${missed.length} target(s) missed` : "every target met"}`);
process.exitCode = missed.length ? 1 : 0;
