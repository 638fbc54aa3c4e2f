/*
 * `npm run soak`: seven simulated days of the firmware on the XS host
 * simulator against a real mosquitto, on a virtual clock (about 8 real
 * seconds per simulated hour): a reading every second at QoS 1, an LED
 * command every minute, a broker drop every hour. A census after every
 * simulated day: the XS heap after a full GC must stay within 5 % of
 * day 1, and timers and sockets must not grow. Every reading must reach
 * the persistent subscriber, in order.
 *
 * SOAK_HOURS overrides the span (default 168). Writes bench/results/soak.json.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Mosquitto } from "../tools/rigs/mosquitto.js";
import { runSoak, type CensusRow } from "../tools/rigs/soak.js";
import { projectRoot } from "../tools/rigs/xs.js";

const hours = Number(process.env.SOAK_HOURS ?? 168);
if (!Number.isInteger(hours) || hours < 1) throw new Error(`SOAK_HOURS must be a whole number of hours >= 1, got ${process.env.SOAK_HOURS}`);
const censusEvery = hours >= 48 ? 24 : 1;
const columns: (keyof CensusRow)[] = ["hour", "heapSlots", "xsTimers", "xsSockets", "boardTimers", "boardSockets", "proxyConnections", "published", "delivered", "duplicates", "dropped", "connects", "ledCommands", "realSeconds"];

console.log(`soak: ${hours} simulated hours, census every ${censusEvery} h`);
console.log(columns.map((c) => c.padStart(11)).join(" "));
const broker = await Mosquitto.start({ persistent: true });
let result;
try {
	result = await runSoak({ broker, name: "soak", hours, censusEvery, onCensus: (row) => console.log(columns.map((c) => String(row[c]).padStart(11)).join(" ")) });
} finally {
	await broker.stop();
}

const first = result.rows[0]!;
const problems: string[] = [];
for (const row of result.rows) {
	const drift = (row.heapSlots - first.heapSlots) / first.heapSlots;
	if (Math.abs(drift) > 0.05) problems.push(`hour ${row.hour}: heap ${row.heapSlots} slots, ${(drift * 100).toFixed(1)} % from ${first.heapSlots}`);
	for (const key of ["xsTimers", "xsSockets", "boardTimers", "boardSockets", "proxyConnections"] as const) {
		if (row[key] > first[key]) problems.push(`hour ${row.hour}: ${key} ${row[key]}, was ${first[key]}`);
	}
}
if (result.missing.length) problems.push(`${result.missing.length} readings never arrived: ${result.missing.slice(0, 10).join(", ")}`);
if (result.outOfOrder) problems.push(`${result.outOfOrder} readings out of order`);

const last = result.rows.at(-1)!;
const heaps = result.rows.map((row) => row.heapSlots);
const summary = {
	hours, censusEvery,
	heapSlots: { first: first.heapSlots, min: Math.min(...heaps), max: Math.max(...heaps), last: last.heapSlots },
	published: last.published, delivered: last.delivered, duplicates: last.duplicates, missing: result.missing.length, outOfOrder: result.outOfOrder,
	connects: last.connects, ledCommands: last.ledCommands, stalls: result.stalls, realSeconds: last.realSeconds,
	problems,
};
console.log(JSON.stringify(summary, null, 2));
const file = path.join(projectRoot, "bench", "results", "soak.json");
fs.mkdirSync(path.dirname(file), { recursive: true });
fs.writeFileSync(file, JSON.stringify({
	date: new Date().toISOString(), machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version },
	summary, rows: result.rows,
}, null, "\t") + "\n");
console.log(`wrote ${path.relative(projectRoot, file)}`);
if (problems.length) {
	console.error(`soak FAILED:\n  ${problems.join("\n  ")}`);
	process.exitCode = 1;
}
