/*
 * The firmware on the XS host simulator against a real mosquitto, through
 * a fault-injecting proxy (tools/rigs/fault-proxy.ts). Each scenario
 * breaks the link one way and asserts a stated recovery bound, that no
 * exception escaped, and that the engine's heap, timers and sockets are
 * where they were.
 *
 * Real time, short settings: keepalive 2 s, ping timeout 1 s, CONNACK
 * timeout 1 s, reconnect backoff 100 ms doubling to 1 s, a reading every
 * 200 ms at QoS 1. Lower bounds are exact (nothing may happen before its
 * timer); upper bounds are the stated bound plus a generous slack for a
 * loaded CI machine, and every wait is for the event, not a fixed sleep.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { Board, type RealTime, type LogRecord } from "../hosts/simulated-board/board.js";
import { XsSimulator } from "../hosts/xsnap/node-side.js";
import { encode } from "test/lib/broker-codec";
import { PacketType } from "mqtt/packets";
import { Mosquitto } from "../tools/rigs/mosquitto.js";
import { FaultProxy } from "../tools/rigs/fault-proxy.js";
import { manifestConfig } from "../tools/rigs/firmware.js";
import { waitFor } from "../tools/rigs/wait.js";

const keepalive = 2000;
const pingTimeout = 1000;
const connackTimeout = 1000;
const backoffMin = 100;
const backoffMax = 1000;
/** Scheduling and loopback slack on a shared, loaded CI machine: the XS bridge, mosquitto and the proxy all take turns. */
const slack = 1500;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Device {
	proxy: FaultProxy;
	simulator: XsSimulator;
	board: Board;
	prefix: string;
	heapAfterConnect: number;
}

describe("faults between the firmware (XS host simulator) and mosquitto, through a fault-injecting proxy", function () {
	this.timeout(40000);
	let broker: Mosquitto;
	let watcher: mqtt.MqttClient;
	const messages: { topic: string; payload: string; at: number }[] = [];
	let device: Device | undefined;
	let scenario = 0;

	before(async function () {
		broker = await Mosquitto.start();
		watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: "fault-watcher", reconnectPeriod: 200 });
		watcher.on("message", (topic, payload) => messages.push({ topic, payload: payload.toString(), at: performance.now() }));
		await watcher.subscribeAsync("fault/#", { qos: 1 });
	});

	after(async function () {
		await watcher?.endAsync(true);
		await broker?.stop();
	});

	afterEach(async function () {
		if (!device) return;
		await device.simulator.close();
		await device.proxy.close();
		device = undefined;
	});

	/** The firmware, connected through a fresh proxy to `target` (default: the shared broker). */
	async function start(overrides: Record<string, string> = {}, target = broker): Promise<Device> {
		const proxy = await FaultProxy.start(target.port);
		const prefix = `fault/${++scenario}`;
		const board = new Board();
		const simulator = await XsSimulator.start({
			board,
			config: {
				...manifestConfig(), ssid: "simulator", sensor: "simulated",
				mqtt_port: String(proxy.port), mqtt_client_id: `fault-device-${scenario}`,
				mqtt_keepalive: String(keepalive / 1000), mqtt_ping_timeout: String(pingTimeout), mqtt_connack_timeout: String(connackTimeout),
				mqtt_backoff_min: String(backoffMin), mqtt_backoff_max: String(backoffMax), sensor_interval: "200",
				topic_temperature: `${prefix}/temp`, topic_status: `${prefix}/status`, topic_events: `${prefix}/events`,
				topic_led_command: `${prefix}/led`, topic_led_state: `${prefix}/led/state`,
				...overrides,
			},
		});
		device = { proxy, simulator, board, prefix, heapAfterConnect: 0 };
		await waitFor(() => connectedAt(board).length >= 1, 5000);
		// Commands published before the broker has the subscription would go nowhere.
		await waitFor(() => proxy.subacks >= 1, 5000);
		device.heapAfterConnect = (await simulator.census()).heapSlots;
		return device;
	}

	const mqttLogs = (board: Board, pattern: RegExp): LogRecord[] => board.logs.filter((r) => r.tag === "mqtt" && pattern.test(r.message));
	const connectedAt = (board: Board): number[] => mqttLogs(board, /^connected: /).map((r) => r.at);
	const readings = (d: Device): number => messages.filter((m) => m.topic === `${d.prefix}/temp`).length;

	/** No exception escaped, and the engine holds what it held once connected. */
	async function assertHealthy(d: Device): Promise<void> {
		const escaped = d.board.logs.filter((r) => /uncaught exception|engine failure/.test(r.message));
		assert.deepEqual(escaped, []);
		const census = await d.simulator.census();
		assert.ok(census.heapSlots <= d.heapAfterConnect * 1.1, `heap ${census.heapSlots} slots, ${d.heapAfterConnect} once connected`);
		assert.ok(census.timers <= 3, `${census.timers} timers armed`);
		assert.ok(census.sockets <= 1, `${census.sockets} sockets open`);
	}

	/** What a timed-out wait saw: the engine's queue, timers, sockets, connections accepted since `from`, and the last log lines. */
	function story(d: Device, from: number): string {
		const log = mqttLogs(d.board, /./).slice(-8).map((r) => `${Math.round(r.at)} ${r.message}`).join(" | ");
		return `engine queue ${d.simulator.queued}, board timers ${(d.board.time as RealTime).pending}, sockets ${d.board.sockets.size}; accepted at ${d.proxy.accepted.slice(from).map(Math.round).join(", ")}; log: ${log}`;
	}

	async function ledCommand(d: Device, payload: string): Promise<void> {
		await watcher.publishAsync(`${d.prefix}/led`, payload, { qos: 1 });
	}

	it("a broker restart: reconnects within the maximum backoff of the broker's return, and readings flow again", async function () {
		const own = await Mosquitto.start();
		try {
			const d = await start({}, own);
			await own.stop();
			await waitFor(() => mqttLogs(d.board, /^waiting: /).length >= 1, 3000);
			await sleep(1500);
			const back = d.board.time.now();
			await own.restart();
			await waitFor(() => connectedAt(d.board).length >= 2, backoffMax + slack + 1000);
			const recovery = connectedAt(d.board)[1]! - back;
			assert.ok(recovery <= backoffMax + slack, `reconnected ${recovery} ms after the broker came back`);
			const status = await d.simulator.status();
			assert.equal(status!.mqtt, "connected");
			await assertHealthy(d);
		} finally {
			await own.stop();
		}
	});

	it("a reset in the middle of a PUBLISH: the partial packet is dropped, the link is back within the backoff, and the command is redelivered", async function () {
		const d = await start();
		d.proxy.cutNextPublish = true;
		const cutAt = d.board.time.now();
		await ledCommand(d, "on");
		await waitFor(() => d.board.led.level === 1, 5000);
		const lost = mqttLogs(d.board, /^waiting: /).find((r) => r.at >= cutAt);
		assert.ok(lost, "the reset was noticed");
		const back = connectedAt(d.board)[1]!;
		assert.ok(back - lost.at <= backoffMin + slack, `reconnected ${back - lost.at} ms after the reset (first delay ${backoffMin} ms)`);
		await waitFor(() => messages.some((m) => m.topic === `${d.prefix}/led/state` && m.payload === "on"), 3000);
		assert.equal(mqttLogs(d.board, /protocol error/).length, 0, "a cut packet is a lost link, not a protocol error");
		await assertHealthy(d);
	});

	it("a half-open link: detected within keepalive + ping timeout, though readings keep going out", async function () {
		const d = await start();
		d.proxy.blackhole = true;
		const from = d.board.time.now();
		await waitFor(() => mqttLogs(d.board, /no PINGRESP/).length >= 1, keepalive + pingTimeout + slack + 1000);
		const detected = mqttLogs(d.board, /no PINGRESP/)[0]!.at - from;
		assert.ok(detected <= keepalive + pingTimeout + slack, `detected after ${detected} ms; bound ${keepalive + pingTimeout} ms`);
		assert.ok(detected >= pingTimeout, `detected after ${detected} ms: too soon to be the ping timeout`);
		d.proxy.blackhole = false;
		await waitFor(() => connectedAt(d.board).length >= 2, backoffMin + slack + 1000);
		assert.ok(connectedAt(d.board)[1]! - from - detected <= backoffMin + slack);
		await assertHealthy(d);
	});

	it("a CONNACK delayed past the timeout: the attempt is abandoned at the timeout, and the next one connects", async function () {
		const d = await start();
		d.proxy.connackDelay = 3000;
		d.proxy.resetAll();
		await waitFor(() => mqttLogs(d.board, /no CONNACK within/).length >= 1, connackTimeout + backoffMax + slack + 1000);
		const timedOut = mqttLogs(d.board, /no CONNACK within/)[0]!.at;
		const opened = mqttLogs(d.board, /^connecting: /).filter((r) => r.at <= timedOut).at(-1)!.at;
		assert.ok(timedOut - opened >= connackTimeout - 5 && timedOut - opened <= connackTimeout + slack, `gave up ${timedOut - opened} ms after connecting; timeout ${connackTimeout} ms`);
		d.proxy.connackDelay = 0;
		await waitFor(() => connectedAt(d.board).length >= 2, backoffMax + slack + 1000);
		await assertHealthy(d);
	});

	it("a CONNACK refused with each return code 1-5: named in the log; 4 and 5 wait the maximum backoff, 1-3 back off from the minimum", async function () {
		this.timeout(90000);
		const d = await start();
		const names: Record<number, RegExp> = { 1: /unacceptable protocol version \(1\)/, 2: /identifier rejected \(2\)/, 3: /server unavailable \(3\)/, 4: /bad user name or password \(4\)/, 5: /not authori[sz]ed \(5\)/ };
		for (const code of [1, 2, 3, 4, 5]) {
			d.proxy.refuseWith = code;
			const before = d.proxy.accepted.length;
			d.proxy.resetAll();
			// Not the bound (the gap below is): long enough that a stalled CI machine cannot fail it, with the story if it does.
			await waitFor(() => d.proxy.accepted.length >= before + 2, 4 * backoffMax + 4 * slack + 4000).catch((error: Error) => {
				throw new Error(`code ${code}: ${error.message}; ${story(d, before)}`);
			});
			const gap = d.proxy.accepted[before + 1]! - d.proxy.accepted[before]!;
			assert.ok(mqttLogs(d.board, names[code]!).length >= 1, `code ${code} named: ${mqttLogs(d.board, /refused/).map((r) => r.message).join(" | ")}`);
			if (code >= 4) assert.ok(gap >= backoffMax - 50, `code ${code}: retried after ${gap} ms, not the maximum ${backoffMax} ms`);
			else assert.ok(gap >= backoffMin - 50 && gap <= backoffMax + slack, `code ${code}: retried after ${gap} ms`);
		}
		d.proxy.refuseWith = undefined;
		await waitFor(() => connectedAt(d.board).length >= 2, backoffMax + slack + 1000).catch((error: Error) => {
			throw new Error(`${error.message}; ${story(d, 0)}`);
		});
		await assertHealthy(d);
	});

	it("garbage from the broker: a protocol error that names the rule, a clean close, and a reconnect within the backoff", async function () {
		const d = await start();
		const from = d.board.time.now();
		d.proxy.inject(Uint8Array.of(0x00, 0x02, 0xde, 0xad));
		await waitFor(() => connectedAt(d.board).length >= 2, backoffMin + slack + 1000);
		const error = mqttLogs(d.board, /protocol error: /)[0];
		assert.ok(error && /packet type 0|reserved/i.test(error.message), error?.message);
		assert.ok(connectedAt(d.board)[1]! - from <= backoffMin + slack);
		await ledCommand(d, "on");
		await waitFor(() => d.board.led.level === 1, 3000);
		await assertHealthy(d);
	});

	it("an oversized message and an over-long topic: each reported and skipped on the same connection; what follows is obeyed", async function () {
		const d = await start();
		await ledCommand(d, "x".repeat(10000));
		await waitFor(() => d.board.logs.some((r) => /exceeds the maximum packet size of 4096/.test(r.message)), 3000);
		d.proxy.inject(encode({ type: PacketType.Publish, topic: `${d.prefix}/${"t".repeat(300)}`, payload: new Uint8Array(1), qos: 0, retain: false, dup: false }));
		await waitFor(() => d.board.logs.some((r) => /topic of \d+ bytes exceeds the limit of 256/.test(r.message)), 3000);
		await ledCommand(d, "on");
		await waitFor(() => d.board.led.level === 1, 3000);
		assert.equal(d.proxy.accepted.length, 1, "no reconnect");
		const status = await d.simulator.status();
		assert.equal(status!.ledCommands, 1);
		await assertHealthy(d);
	});

	it("a broker that never acknowledges: in flight stays at its maximum, the outbox at its bound with drops counted; a reconnect retransmits and drains", async function () {
		const d = await start({ mqtt_max_inflight: "3", mqtt_outbox_messages: "5", mqtt_clean_session: "false" });
		d.proxy.swallowPubacks = true;
		// Readings pile up: 3 in flight, 5 in the outbox, then the oldest dropped.
		await waitFor(async () => ((await d.simulator.status())!.dropped as number) >= 3, 20000, "three readings dropped");
		const stuck = (await d.simulator.status())!;
		assert.equal(stuck.inflight, 3);
		assert.equal(stuck.outbox, 5);
		assert.ok((stuck.dropped as number) >= 3, `dropped ${String(stuck.dropped)}`);
		assert.equal(stuck.mqtt, "connected", "pings still answered: the link is alive");
		d.proxy.swallowPubacks = false;
		d.proxy.resetAll();
		await waitFor(async () => {
			const status = (await d.simulator.status())!;
			return status.mqtt === "connected" && status.inflight === 0 && status.outbox === 0;
		}, 5000);
		await assertHealthy(d);
	});

	it("every byte in its own segment, then many packets coalesced into one: commands obeyed, no reconnect", async function () {
		const d = await start();
		d.proxy.bytewise = true;
		await ledCommand(d, "on");
		await waitFor(() => d.board.led.level === 1, 3000);
		await ledCommand(d, "off");
		await waitFor(() => d.board.led.level === 0, 3000);
		d.proxy.bytewise = false;
		d.proxy.coalesce = 300;
		const writes = d.board.led.writes;
		for (let i = 0; i < 7; i++) await ledCommand(d, "toggle");
		await waitFor(() => d.board.led.writes === writes + 7, 3000);
		assert.equal(d.board.led.level, 1, "seven toggles from off");
		const before = readings(d);
		await waitFor(() => readings(d) - before >= 3, 10000, "readings flowing under coalescing");
		assert.equal(d.proxy.accepted.length, 1, "no reconnect");
		await assertHealthy(d);
	});

	it("a 500 ms slow broker: stays connected, readings keep arriving, a command takes about two delays", async function () {
		const d = await start({ mqtt_connack_timeout: "3000", mqtt_keepalive: "5", mqtt_ping_timeout: "2500" });
		d.proxy.delay = 500;
		await sleep(1500);
		const before = readings(d);
		const sent = performance.now();
		await ledCommand(d, "on");
		await waitFor(() => messages.some((m) => m.topic === `${d.prefix}/led/state` && m.payload === "on" && m.at > sent), 5000);
		const roundTrip = messages.find((m) => m.topic === `${d.prefix}/led/state` && m.payload === "on" && m.at > sent)!.at - sent;
		assert.ok(roundTrip >= 1000 && roundTrip <= 1000 + 2 * slack, `command round trip ${Math.round(roundTrip)} ms through a 500 ms delay each way`);
		// Longer than the keepalive (5 s): the link must outlast it through the delay.
		await sleep(6000);
		await waitFor(() => readings(d) - before >= 20, 15000, "20 readings through the slow broker");
		assert.equal(d.proxy.accepted.length, 1, "no reconnect: the keepalive outlasts the delay");
		await assertHealthy(d);
	});
});
