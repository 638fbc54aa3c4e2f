/*
 * The engine bench compares like with like: each side of each path is built
 * and metered in an engine of its own, so no other rig's timers or sockets
 * are alive during its loop (a firmware left running would take readings,
 * fill its outbox and drop its connection on the shared virtual timer, all
 * charged to the client metered beside it). Runs the harness on the release
 * XS 13.3 CLI with few iterations, ours only: no SDK is needed.
 */
import assert from "node:assert/strict";
import { buildEngine, driverCall, engineBench, inFreshEngine, installBoardSocket } from "../bench/engine.js";

describe("engine bench: each client metered alone", function () {
	this.timeout(600_000);
	let binary = "";
	before(function () {
		binary = buildEngine("xs13");
		installBoardSocket();
	});

	it("meters every path of ours in a fresh engine, each rig alone and its wire checked before and after", function () {
		const { results } = engineBench({ engines: ["xs13"], runs: 20, slotRuns: 5, sdk: false });
		const paths = results[0]!.results;
		assert.ok(paths.length >= 5, `${paths.length} paths measured`);
		for (const path of paths) assert.ok(path.ours.units > 0, `${path.name}: ${path.ours.units} units`);
		// The firmware's rig arms its own timers (telemetry, keepalive): the same rig left
		// alive is what the next test must see refused.
		const reading = paths.find((path) => path.name.startsWith("(a)"))!;
		assert.ok(reading.ours.timers > 0, "the firmware rig armed no timer");
	});

	it("refuses to meter another client while the firmware rig is alive in the same engine", function () {
		// The old harness's order: the firmware rig, then another client in the same engine.
		const shared = driverCall(`jobs(${JSON.stringify([{ path: 0, side: "ours", runs: 5, slotRuns: 2 }, { path: 2, side: "ours", runs: 5, slotRuns: 2 }])})`);
		assert.throws(() => inFreshEngine(binary, shared, "two rigs in one engine"), /another rig is alive: [1-9]\d* timer\(s\) armed, 1 socket\(s\) open/);
	});
});
