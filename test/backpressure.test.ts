/*
 * Back-pressure end to end: the firmware on the XS host simulator (the real
 * engine), on a virtual clock, against mosquitto, through the board's
 * socket, which takes 1,536 bytes per turn of the event loop and throws
 * "would block" past it, as Moddable's lin socket does. The two setups
 * that aborted XS in mcsim before the client honoured the budget:
 * Home Assistant discovery, and QoS 0 readings every 200 ms through a
 * broker outage. Every message arrives, in order, and the heap stays flat.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { VirtualRig, rigsOnOneBroker } from "../tools/rigs/virtual-rig.js";

describe("back-pressure end to end: the firmware (XS host simulator) against mosquitto, 1,536 bytes per turn", function () {
	this.timeout(120_000);
	// QoS 0 readings published while the subscriber itself reconnects after a restart are kept for it.
	const suite = rigsOnOneBroker({ persistent: true, config: ["queue_qos0_messages true"] });

	function assertNoFailures(r: VirtualRig): void {
		const bad = r.board.logs.filter((record) => /would block|transport failed|uncaught exception|engine failure|threw/.test(record.message));
		assert.deepEqual(bad.map((record) => record.message), []);
	}

	/**
	 * Waits, in real time, until the firmware has seen its link go: on a
	 * device that takes a millisecond, far less than the 200 ms between
	 * readings, and the virtual clock must not run readings into the gap.
	 */
	async function noticed(r: VirtualRig, drops: number): Promise<void> {
		await r.until(() => r.mqttLog(/^waiting: /).length >= drops, 10_000, "the firmware to see the link go");
	}

	async function assertAllDelivered(r: VirtualRig): Promise<number> {
		const published = (await r.simulator.status())!.readings as number;
		await r.until(() => r.delivery.highest >= published && r.delivery.missing().length === 0, 10_000, `readings 1-${published}`).catch((error: Error) => {
			throw new Error(`${error.message}; missing ${r.delivery.missing().join(",")}; highest ${r.delivery.highest}\n${r.board.logs.filter((l) => l.tag !== "telemetry").map((l) => `${l.at} ${l.tag} ${l.message}`).join("\n")}`);
		});
		assert.equal(r.delivery.outOfOrder, 0, "out of order");
		return published;
	}

	it("Home Assistant discovery on, over three reconnects: online, LED state and every config each time, every reading in order, heap flat", async function () {
		// Ten configs: temperature, humidity, the LED, and seven diagnostic entities (the XS host simulator reports its IP); and online.
		const expected = 10 + 1;
		// Readings at QoS 1 here: a reset, unlike a broker's orderly stop, may lose a QoS 0 message in transit.
		const r = suite.rig = await VirtualRig.start({ broker: suite.broker, name: "bp-ha", config: { ha_discovery: "true", sensor_interval: "200" } });
		const device = "bp-ha-device";
		const retained = new Map<string, string>();
		const watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${suite.broker.port}`, { clientId: "bp-ha-watcher" });
		try {
			watcher.on("message", (topic, payload) => retained.set(topic, payload.toString()));
			await watcher.subscribeAsync([`homeassistant/+/${device}/+/config`, `${r.prefix}/status`], { qos: 1 });
			await r.advance(5_000);
			const baseline = await r.census();
			for (let drop = 0; drop < 3; drop++) {
				retained.clear();
				r.proxy.resetAll();
				await noticed(r, drop + 1);
				await r.advance(5_000);
				await r.until(() => retained.size === expected, 10_000, "discovery configs and online after the reconnect");
				assert.equal(retained.get(`${r.prefix}/status`), "online");
				for (const [topic, payload] of retained) if (topic.endsWith("/config")) assert.ok(JSON.parse(payload).unique_id, `${topic} whole`);
				assert.equal(r.lastLedState, "off");
			}
			assert.equal(r.mqttLog(/^connected: /).length, 4, "one connection per drop: no write ever failed");
			await assertAllDelivered(r);
			assertNoFailures(r);
			const after = await r.census();
			assert.ok(Math.abs(after.heapSlots - baseline.heapSlots) <= 64, `heap ${baseline.heapSlots} -> ${after.heapSlots} slots`);
			assert.ok(after.xsTimers <= baseline.xsTimers && after.xsSockets <= 1, `timers ${after.xsTimers}, sockets ${after.xsSockets}`);
		} finally {
			await watcher.endAsync(true);
		}
	});

	it("sensor_qos=0, a reading every 200 ms, through two 10 s broker outages: no reading lost, all in order, heap flat", async function () {
		const r = suite.rig = await VirtualRig.start({ broker: suite.broker, name: "bp-qos0", config: { sensor_interval: "200", sensor_qos: "0" } });
		await r.advance(5_000);
		const baseline = await r.census();
		for (let outage = 0; outage < 2; outage++) {
			const drops = r.mqttLog(/^waiting: /).length;
			// What went out before the outage is the broker's: a QoS 0 message still in its input when it
			// stops is lost there, not here. The outage's own readings are the test.
			await assertAllDelivered(r);
			await suite.broker.stop();
			await noticed(r, drops + 1);
			await r.advance(10_000);
			await suite.broker.restart();
			await r.advance(15_000);
		}
		assert.equal(r.mqttLog(/^connected: /).length, 3);
		const published = await assertAllDelivered(r);
		assert.ok(published >= 170, `${published} readings`);
		const status = (await r.simulator.status())!;
		assert.equal(status.dropped, 0);
		assertNoFailures(r);
		const after = await r.census();
		assert.ok(Math.abs(after.heapSlots - baseline.heapSlots) <= 64, `heap ${baseline.heapSlots} -> ${after.heapSlots} slots`);
		assert.ok(after.xsTimers <= baseline.xsTimers && after.xsSockets <= 1, `timers ${after.xsTimers}, sockets ${after.xsSockets}`);
	});
});
