/*
 * Long faults on a virtual clock, against a real mosquitto: the firmware
 * on the XS host simulator, and a subscriber with a persistent session
 * that checks every reading arrives, in order (tools/rigs/virtual-rig.ts).
 * The rig's socket is the board's: 1,536 bytes per turn of the event loop,
 * "would block" past it, as Moddable's lin socket.
 *
 * - Wi-Fi drops, broker outages, an outbox too small and a short soak, a
 *   reading every second at QoS 1. Settings: Wi-Fi and MQTT backoff 1 s
 *   doubling to 10 s, max in flight 10.
 * - The same faults with more to write after each reconnect than one turn
 *   takes, the two setups that aborted XS in mcsim before the client
 *   honoured the budget: Home Assistant discovery over three resets, and
 *   QoS 0 readings every 200 ms through two broker outages. Every message
 *   arrives, in order, and the heap stays flat. The budget itself, byte by
 *   byte, is test/portable/mqtt-client-backpressure.ts; the same setups on
 *   the real SDK's socket are test/sdk-backpressure.test.ts.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { VirtualRig, rigsOnOneBroker } from "../tools/rigs/virtual-rig.js";
import { runSoak } from "../tools/rigs/soak.js";

const backoffMax = 10_000;
const maxInflight = 10;

describe("long faults on a virtual clock: the firmware (XS host simulator) against mosquitto", function () {
	this.timeout(120_000);
	const suite = rigsOnOneBroker({ persistent: true });
	let rigs = 0;

	async function start(config: Record<string, string> = {}): Promise<VirtualRig> {
		const rig = suite.rig = await VirtualRig.start({ broker: suite.broker, name: `rig${++rigs}`, config });
		await rig.advance(10_000);
		assert.equal(rig.mqttLog(/^connected: /).length, 1, "connected once");
		assert.ok(rig.delivery.highest >= 8, `readings flowing: ${rig.delivery.highest}`);
		return rig;
	}

	/** Every reading up to what the firmware has published, in order. */
	async function assertAllDelivered(r: VirtualRig): Promise<{ published: number }> {
		const status = await r.simulator.status();
		const published = status!.readings as number;
		await r.until(() => r.delivery.highest >= published && r.delivery.missing().length === 0, 10_000, `readings 1-${published}`);
		assert.deepEqual(r.delivery.missing(), []);
		assert.equal(r.delivery.outOfOrder, 0, "out of order");
		return { published };
	}

	it("a 30 s Wi-Fi drop: readings taken offline are delivered after it, in order, with their own timestamps; MQTT is back within the Wi-Fi backoff", async function () {
		const r = await start();
		const down = r.time.now();
		r.board.wifi.setAccessPoint(false);
		await r.advance(30_000);
		const up = r.time.now();
		r.board.wifi.setAccessPoint(true);
		await r.advance(backoffMax + 2_000);
		const reconnected = r.mqttLog(/^connected: /)[1];
		assert.ok(reconnected, "MQTT connected again");
		assert.ok(reconnected.at - up <= backoffMax + 1_000, `MQTT back ${reconnected.at - up} ms after the access point, bound ${backoffMax + 1_000}`);
		await assertAllDelivered(r);
		const offline = r.readings.filter((reading) => reading.ts - r.time.wallOffset! > down && reading.ts - r.time.wallOffset! < up);
		assert.ok(offline.length >= 29, `${offline.length} readings taken while Wi-Fi was down`);
		assert.ok(r.delivery.duplicates <= maxInflight, `${r.delivery.duplicates} duplicates`);
		assert.equal(r.stalls, 0, "the network went quiet before each step");
	});

	it("no data loss through a 30 s broker outage: every QoS 1 reading reaches a persistent subscriber, in order; duplicates only of what was in flight", async function () {
		const r = await start();
		// Leave readings in flight when the broker dies: the broker keeps them, the firmware never hears so.
		r.awaitAnswers = false;
		r.proxy.swallowPubacks = true;
		await r.advance(5_000);
		const inflight = (await r.simulator.status())!.inflight as number;
		assert.ok(inflight >= 4 && inflight <= maxInflight, `${inflight} in flight`);
		await suite.broker.stop();
		await r.advance(30_000);
		r.proxy.swallowPubacks = false;
		r.awaitAnswers = true;
		await suite.broker.restart();
		const back = r.time.now();
		await r.advance(backoffMax + 2_000);
		const reconnected = r.mqttLog(/^connected: /)[1];
		assert.ok(reconnected && reconnected.at - back <= backoffMax, `MQTT back ${reconnected ? reconnected.at - back : "never"} ms after the broker, bound ${backoffMax}`);
		const { published } = await assertAllDelivered(r);
		assert.ok(published >= 55, `${published} readings`);
		// Two hops, two sources of QoS 1 duplicates: the firmware resends what it had in flight (DUP to the
		// broker, new to the subscriber), and the broker resends, marked DUP, what the subscriber had not acknowledged when it died.
		const retransmitted = r.delivery.duplicates - r.delivery.brokerRedeliveries;
		assert.ok(retransmitted >= 1 && retransmitted <= inflight, `${retransmitted} duplicates from the firmware, ${inflight} were in flight`);
		assert.ok(r.delivery.brokerRedeliveries <= maxInflight, `${r.delivery.brokerRedeliveries} redelivered by the broker`);
		assert.equal((await r.simulator.status())!.dropped, 0);
	});

	it("past the outbox's capacity the oldest readings are dropped and counted, the newest delivered in order, and nothing crashes", async function () {
		const r = await start({ mqtt_outbox_messages: "10" });
		await suite.broker.stop();
		await r.advance(30_000);
		await suite.broker.restart();
		await r.advance(backoffMax + 2_000);
		const status = (await r.simulator.status())!;
		const published = status.readings as number;
		const dropped = status.dropped as number;
		assert.ok(dropped >= 15, `${dropped} dropped`);
		await r.until(() => r.delivery.highest >= published, 10_000, `reading ${published}`);
		const missing = r.delivery.missing();
		assert.equal(missing.length, dropped, "every reading not delivered is one counted as dropped");
		// The oldest went: one run of consecutive readings from the start of the outage.
		assert.equal(missing.at(-1)! - missing[0]! + 1, missing.length, `missing ${missing.join(",")}`);
		assert.equal(r.delivery.outOfOrder, 0);
		assert.ok(r.board.logs.every((record) => !/uncaught exception|engine failure/.test(record.message)));
	});

	it("a short soak: readings every second, an LED command every minute, a broker drop every hour; heap, timers and sockets flat", async function () {
		const hours = 3;
		const { rows, missing, outOfOrder, stalls, lastLedState, ledLevel, ledToggles } = await runSoak({ broker: suite.broker, name: "short-soak", hours, censusEvery: 1 });
		assert.equal(rows.length, hours);
		const first = rows[0]!;
		for (const row of rows) {
			assert.ok(Math.abs(row.heapSlots - first.heapSlots) <= first.heapSlots * 0.05, `hour ${row.hour}: heap ${row.heapSlots} slots, hour 1 ${first.heapSlots}`);
			assert.ok(row.xsTimers <= first.xsTimers && row.boardTimers <= first.boardTimers, `hour ${row.hour}: timers ${row.xsTimers}/${row.boardTimers}`);
			assert.ok(row.xsSockets <= 1 && row.boardSockets <= 1 && row.proxyConnections <= 1, `hour ${row.hour}: sockets`);
			assert.equal(row.connects, row.hour, "one connection per hour: the hourly drop, nothing else");
			assert.equal(row.ledCommands, row.hour * 60);
		}
		assert.ok(rows.at(-1)!.published >= hours * 3600);
		assert.deepEqual(missing, []);
		assert.equal(outOfOrder, 0);
		assert.equal(stalls, 0);
		// An even number of toggles from off ends off, and the state topic says so.
		assert.equal(ledToggles % 2, 0);
		assert.equal(ledLevel, 0);
		assert.equal(lastLedState, "off");
	});
});

describe("long faults with much to write: the firmware (XS host simulator) against mosquitto, the board's 1,536 bytes per turn", function () {
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
