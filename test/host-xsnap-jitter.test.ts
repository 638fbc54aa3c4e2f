/*
 * Reconnect jitter on the XS host simulator, on a virtual clock. xsnap's
 * Math.random is never seeded, so every `npm start` used to back off
 * identically (1000, 1000, 3132, 6387, 14586 ms on every run). The host now
 * draws jitter from a seed Node picks per run; tests may inject one.
 */
import assert from "node:assert/strict";
import { Board, VirtualTime } from "../hosts/simulated-board/board.js";
import { XsSimulator } from "../hosts/xsnap/node-side.js";
import { manifestConfig } from "../tools/rigs/firmware.js";

/** The reconnect delays the firmware announces over two virtual minutes, with its broker unreachable. */
async function delays(seed?: number): Promise<number[]> {
	const time = new VirtualTime();
	const board = new Board({ time });
	// Off loopback: the simulated board refuses at once, so each attempt fails without real time passing.
	const simulator = await XsSimulator.start({
		board, ...(seed === undefined ? {} : { seed }),
		config: { ...manifestConfig(), ssid: "simulator", sensor: "simulated", mqtt_host: "192.0.2.1", mqtt_backoff_min: "1000", mqtt_backoff_max: "60000" },
	});
	try {
		await time.advance(120000, () => simulator.idle());
		return board.logs.filter((r) => r.tag === "mqtt" && r.message.startsWith("waiting:")).map((r) => Number(/retrying in (\d+) ms/.exec(r.message)![1]));
	} finally {
		await simulator.close();
	}
}

describe("reconnect jitter on the XS host simulator", function () {
	this.timeout(30000);

	it("an injected seed repeats exactly; another seed, or none, gives other delays", async function () {
		const first = await delays(7);
		assert.ok(first.length >= 5, first.join());
		assert.deepEqual(await delays(7), first);
		assert.notDeepEqual(await delays(8), first);
		const unseeded = [await delays(), await delays()];
		assert.notDeepEqual(unseeded[0], unseeded[1], `two runs without a seed: ${unseeded[0]!.join()} and ${unseeded[1]!.join()}`);
	});
});
