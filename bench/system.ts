/*
 * Benchmarks of the running firmware and the client against a real
 * mosquitto on loopback (npm run bench, after the XS meters):
 *
 * - XS memory of the firmware: heap after boot and after 10,000 QoS 1
 *   publishes, each after a full GC; chunk bytes allocated per publish.
 * - wire efficiency: bytes the firmware put on the wire per reading
 *   against the MQTT minimum for that topic and payload; packets other
 *   than PUBLISH while readings flow.
 * - command latency: an LED command through mosquitto to the firmware on
 *   XS and its state back, against the broker's own round trip.
 * - Node throughput: our client and MQTT.js, same broker, same payload,
 *   QoS 0 and QoS 1, interleaved rounds.
 * - recovery: broker restart to first reading delivered; half-open link
 *   detection, against keepalive.
 */
import mqtt from "mqtt";
import { MqttClient } from "mqtt/client";
import { Board } from "../hosts/simulated-board/board.js";
import { createNodeHost } from "../hosts/node/host.js";
import { XsSimulator } from "../hosts/xsnap/node-side.js";
import { Mosquitto } from "../tools/rigs/mosquitto.js";
import { FaultProxy } from "../tools/rigs/fault-proxy.js";
import { VirtualRig } from "../tools/rigs/virtual-rig.js";
import { manifestConfig } from "../tools/rigs/firmware.js";
import { waitFor } from "../tools/rigs/wait.js";
import { percentile, round, type Figure } from "./figures.js";

type Record = (figure: Figure) => void;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls without a timer's delay: waits here are parts of measured times. */
const until = (condition: () => boolean, timeout: number, what: string): Promise<void> => waitFor(condition, timeout, what, 0);

/** Heap and allocation of the running firmware, and its bytes on the wire, over 10,000 readings. */
async function memoryAndWire(broker: Mosquitto, record: Record): Promise<void> {
	const rig = await VirtualRig.start({ broker, name: "bench-memory", keepReadings: false });
	try {
		await rig.advance(5_000);
		const boot = await rig.census();
		const allocatedBefore = rig.simulator.usage.allocatedBytes;
		const statusBefore = (await rig.simulator.status())!;
		const bytesBefore = rig.traffic.bytesOut;
		const packetsBefore = new Map(rig.traffic.packetsOut);
		const publishes = 10_000;
		await rig.advance(publishes * 1000);
		const after = await rig.census();
		const statusAfter = (await rig.simulator.status())!;
		const readings = (statusAfter.readings as number) - (statusBefore.readings as number);
		record({ name: "firmware on XS: heap after boot and connect, after full GC", value: boot.heapSlots, unit: "slots" });
		record({ name: `firmware on XS: heap after ${readings} more QoS 1 readings, after full GC`, value: after.heapSlots, unit: "slots", note: `${after.heapSlots - boot.heapSlots >= 0 ? "+" : ""}${after.heapSlots - boot.heapSlots} slots` });
		// XS grows its slot and chunk heaps when a GC cannot free enough: growth here would be a leak.
		record({ name: "firmware on XS: heap space the engine has reserved", value: rig.simulator.usage.allocatedBytes, unit: "bytes", note: `${rig.simulator.usage.allocatedBytes - allocatedBefore >= 0 ? "+" : ""}${rig.simulator.usage.allocatedBytes - allocatedBefore} over ${readings} readings` });

		// Wire: the firmware's bytes out per reading against the least MQTT 3.1.1 allows for the same topic and payload.
		const topicBytes = new TextEncoder().encode(`${rig.prefix}/temp`).length;
		const payloadBytes = rig.readingPayloadBytes / rig.delivery.received;
		const body = 2 + topicBytes + 2 + payloadBytes;
		const minimum = 1 + (body < 128 ? 1 : 2) + body;
		const bytesPerReading = (rig.traffic.bytesOut - bytesBefore) / readings;
		record({ name: `wire: bytes out per QoS 1 reading (topic ${topicBytes} B, payload ${round(payloadBytes, 1)} B on average)`, value: round(bytesPerReading, 1), unit: "bytes", note: `MQTT minimum ${round(minimum, 1)}: ${(bytesPerReading / minimum).toFixed(3)}x` });
		const others = [...rig.traffic.packetsOut].filter(([type]) => type !== 3).reduce((sum, [type, n]) => sum + n - (packetsBefore.get(type) ?? 0), 0);
		record({ name: "wire: packets other than PUBLISH sent while readings flow (keepalive 30 s)", value: others, unit: "packets", target: 0 });
	} finally {
		await rig.close();
	}
}

/** An LED command from a client, through mosquitto, to the firmware on XS, and its state back. */
async function commandLatency(defaultBroker: Mosquitto, record: Record): Promise<void> {
	// mosquitto's default leaves Nagle's algorithm on toward its clients: its PUBACK to the
	// commanding client and the state PUBLISH right behind it wait for a delayed ACK (40 ms on
	// Linux). Measured both ways; the firmware's own socket always sets nodelay.
	await latencyThrough(defaultBroker, "mosquitto defaults", record);
	const broker = await Mosquitto.start({ config: ["set_tcp_nodelay true"] });
	try {
		await latencyThrough(broker, "set_tcp_nodelay true", record);
	} finally {
		await broker.stop();
	}
}

async function latencyThrough(broker: Mosquitto, label: string, record: Record): Promise<void> {
	const board = new Board({ logLimit: 100 });
	const prefix = `bench/latency/${broker.port}`;
	const simulator = await XsSimulator.start({
		board,
		config: {
			...manifestConfig(), ssid: "simulator", sensor: "simulated", mqtt_port: String(broker.port), mqtt_client_id: `bench-latency-${broker.port}`,
			sensor_interval: "3600000", topic_temperature: `${prefix}/temp`, topic_status: `${prefix}/status`, topic_events: `${prefix}/events`,
			topic_led_command: `${prefix}/led`, topic_led_state: `${prefix}/led/state`,
		},
	});
	const user = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: "bench-user" });
	try {
		await until(() => board.logs.some((r) => r.tag === "mqtt" && r.message.startsWith("connected")), 5000, "the firmware to connect");
		await user.subscribeAsync([`${prefix}/led/state`, "bench/echo"], { qos: 0 });
		await sleep(200);
		let received: (() => void) | undefined;
		user.on("message", () => received?.());
		const roundTrip = async (topic: string, payload: string): Promise<number> => {
			const arrived = new Promise<void>((resolve) => (received = resolve));
			const t0 = performance.now();
			user.publish(topic, payload, { qos: topic === "bench/echo" ? 0 : 1 });
			await arrived;
			return performance.now() - t0;
		};
		const commands: number[] = [];
		const echoes: number[] = [];
		for (let i = 0; i < 1000; i++) {
			commands.push(await roundTrip(`${prefix}/led`, i % 2 ? "off" : "on"));
			echoes.push(await roundTrip("bench/echo", "x"));
		}
		const nagle = label === "mosquitto defaults";
		record({ name: `LED command to state received back, p50 of 1000 (${label})`, value: round(percentile(commands, 0.5)), unit: "ms", ...(nagle ? {} : { target: 2 }) });
		record({ name: `LED command to state received back, p99 (${label})`, value: round(percentile(commands, 0.99)), unit: "ms", ...(nagle ? {} : { target: 10 }) });
		record({ name: `broker's own round trip, client to itself, p50 (${label})`, value: round(percentile(echoes, 0.5)), unit: "ms", note: "a command crosses the broker twice" });
		record({ name: `broker's own round trip, client to itself, p99 (${label})`, value: round(percentile(echoes, 0.99)), unit: "ms" });
	} finally {
		await user.endAsync(true);
		await simulator.close();
	}
}

/** Publishes per second by our client (on Node) and by MQTT.js, through the same broker. */
async function throughput(broker: Mosquitto, record: Record): Promise<void> {
	const payload = "{\"temperature\":21.53,\"unit\":\"°C\"}";
	const url = `mqtt://127.0.0.1:${broker.port}`;

	async function ours(qos: 0 | 1, count: number): Promise<number> {
		const board = new Board({ logLimit: 10 });
		const client = new MqttClient({
			host: createNodeHost(board), address: "127.0.0.1", port: broker.port, clientId: `bench-ours-${qos}`, cleanSession: true,
			maxInflight: 65535, outbox: { maxMessages: count + 10, maxBytes: (count + 10) * 64 },
		});
		client.start();
		await until(() => client.state === "connected", 5000, "our client to connect");
		const t0 = performance.now();
		for (let i = 0; i < count; i++) client.publish("bench/throughput", payload, { qos });
		// QoS 0 is done when a QoS 1 publish behind it is acknowledged: the broker handles a connection's packets in order.
		if (qos === 0) client.publish("bench/throughput", payload, { qos: 1 });
		await until(() => client.inflight === 0 && client.queued === 0, 60_000, "our acknowledgements");
		const elapsed = performance.now() - t0;
		client.stop();
		return count / (elapsed / 1000);
	}

	async function theirs(qos: 0 | 1, count: number): Promise<number> {
		const client = await mqtt.connectAsync(url, { clientId: `bench-mqttjs-${qos}`, clean: true });
		const t0 = performance.now();
		let acked = 0;
		// A callback per QoS 0 publish puts MQTT.js on a slow path (a drain listener per write, about 10x slower): none, as with ours.
		if (qos === 0) for (let i = 0; i < count; i++) client.publish("bench/throughput", payload, { qos });
		else for (let i = 0; i < count; i++) client.publish("bench/throughput", payload, { qos }, () => acked++);
		if (qos === 0) await client.publishAsync("bench/throughput", payload, { qos: 1 });
		else await until(() => acked === count, 60_000, "MQTT.js acknowledgements");
		const elapsed = performance.now() - t0;
		await client.endAsync(true);
		return count / (elapsed / 1000);
	}

	for (const qos of [0, 1] as const) {
		const count = qos === 0 ? 20_000 : 10_000;
		const a: number[] = [];
		const b: number[] = [];
		for (let round = 0; round < 5; round++) {
			a.push(await ours(qos, count));
			b.push(await theirs(qos, count));
		}
		const mine = percentile(a, 0.5);
		const reference = percentile(b, 0.5);
		record({ name: `Node throughput, QoS ${qos}: our client (median of 5 x ${count})`, value: Math.round(mine), unit: "msg/s" });
		record({ name: `Node throughput, QoS ${qos}: MQTT.js, same broker and payload`, value: Math.round(reference), unit: "msg/s" });
		record({ name: `Node throughput, QoS ${qos}: ours / MQTT.js`, value: round(mine / reference), unit: "x", note: "target at least 1.0" });
	}
}

/** Broker restart to first reading delivered, and half-open detection, on the firmware on XS in real time. */
async function recovery(broker: Mosquitto, record: Record): Promise<void> {
	const keepalive = 2000;
	const pingTimeout = 1000;
	const backoffMin = 100;
	const prefix = "bench/recovery";
	const proxy = await FaultProxy.start(broker.port);
	const board = new Board({ logLimit: 1000 });
	const simulator = await XsSimulator.start({
		board,
		config: {
			...manifestConfig(), ssid: "simulator", sensor: "simulated", mqtt_port: String(proxy.port), mqtt_client_id: "bench-recovery",
			mqtt_keepalive: String(keepalive / 1000), mqtt_ping_timeout: String(pingTimeout), mqtt_backoff_min: String(backoffMin), mqtt_backoff_max: "1000",
			sensor_interval: "100", topic_temperature: `${prefix}/temp`, topic_status: `${prefix}/status`, topic_events: `${prefix}/events`,
			topic_led_command: `${prefix}/led`, topic_led_state: `${prefix}/led/state`,
		},
	});
	const watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: "bench-recovery-watcher", reconnectPeriod: 20 });
	let lastReadingAt = 0;
	watcher.on("message", () => (lastReadingAt = performance.now()));
	await watcher.subscribeAsync(`${prefix}/temp`, { qos: 0 });
	const connects = (): number => board.logs.filter((r) => r.tag === "mqtt" && r.message.startsWith("connected")).length;
	try {
		await until(() => connects() >= 1 && lastReadingAt > 0, 5000, "first reading");
		const restarts: number[] = [];
		for (let i = 0; i < 5; i++) {
			await broker.stop();
			await sleep(300);
			await broker.restart();
			const back = performance.now();
			await until(() => lastReadingAt > back, 10_000, "a reading after the restart");
			restarts.push(lastReadingAt - back);
		}
		record({ name: "broker restart: back up to first reading delivered (median of 5)", value: Math.round(percentile(restarts, 0.5)), unit: "ms", note: `backoff minimum ${backoffMin} ms, maximum 1000 ms; the watcher reconnects too` });
		const detections: number[] = [];
		const deaths = (): number => board.logs.filter((r) => r.tag === "mqtt" && /link is dead/.test(r.message)).length;
		for (let i = 0; i < 3; i++) {
			const before = connects();
			const dead = deaths();
			// Start from a link that has just been used, as a device would be.
			await sleep(500);
			proxy.blackhole = true;
			const t0 = performance.now();
			await until(() => deaths() > dead, 15_000, "half-open detection");
			detections.push(performance.now() - t0);
			proxy.blackhole = false;
			proxy.resetAll();
			await until(() => connects() > before, 10_000, "reconnect after half-open");
		}
		record({ name: "half-open link detected (median of 3)", value: Math.round(percentile(detections, 0.5)), unit: "ms", note: `keepalive ${keepalive} ms + ping timeout ${pingTimeout} ms = ${keepalive + pingTimeout} ms at most` });
	} finally {
		await watcher.endAsync(true);
		await simulator.close();
		await proxy.close();
	}
}

export async function systemBenches(record: Record): Promise<void> {
	const broker = await Mosquitto.start({ persistent: true });
	try {
		await memoryAndWire(broker, record);
		await commandLatency(broker, record);
		await throughput(broker, record);
		await recovery(broker, record);
	} finally {
		await broker.stop();
	}
}
