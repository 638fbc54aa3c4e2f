/*
 * The paths the firmware really takes, metered on a release XS engine, and
 * the same MQTT work done by Moddable's own ECMA-419 client
 * (examples/io/tcp/mqttclient), each behind the socket it gets on a board:
 *
 * (a) a reading: the telemetry timer fires, the sensor is read, the JSON is
 *     built, published at QoS 1 and written; the broker's PUBACK is read and
 *     processed;
 * (b) an LED command at QoS 1 (`toggle`): the PUBLISH is read, the LED
 *     driven, its retained state published at QoS 1 and written, the
 *     command's PUBACK written, and the state's PUBACK read and processed;
 * (c) QoS 0 publishes of a 13-character string and of 13 bytes, and an
 *     inbound QoS 0 `on` handed to subscribe()'s handler.
 *
 * Ours is the firmware itself (firmware/app on a bench host) for (a) and (b),
 * and the bare MqttClient for (c), behind hosts/moddable/socket.ts (its
 * guarded callbacks, read adapter and budget) over the bench's ECMA-419 TCP
 * socket. Moddable's client is on that socket bare, as on a board, with the
 * same application code (Telemetry, LedActuator) around it. Each side of
 * each path is built in an engine of its own (bench/xs/engine-driver), and
 * its packets are checked on the wire before and after it is metered.
 */
import type { Host, Socket, SocketOptions } from "platform";
import { MqttClient } from "mqtt/client";
import { startFirmware } from "firmware/app";
import { parseConfig } from "config";
import { Telemetry } from "firmware/telemetry";
import { LedActuator } from "firmware/led";
import Timer, { advance, clockNow, runDue } from "bench/xs/moddable-timer";
import { BenchSocket, broker, nextId, pubacks, type WrittenPacket } from "bench/xs/wire";

/**
 * One side of a comparison, built and connected: `op` is metered; `expect`
 * judges the packets one run wrote (the harness captures a few runs before
 * and after metering); `check` tells whether all runs did what they should.
 */
export interface Bench {
	socket: BenchSocket;
	op(): void;
	expect(packets: WrittenPacket[]): string | undefined;
	check(runs: number): string | undefined;
}

/** hosts/moddable/socket.ts's openSocket, over the bench's ECMA-419 TCP class: what our client gets on a board. */
export type BoardSocket = (options: SocketOptions) => Socket;

export interface Path {
	name: string;
	ours(board: BoardSocket): Bench;
	/** Moddable's client doing the same MQTT work; absent where it has no such path. */
	theirs?(client: ModdableClientClass): Bench;
	/** Ceiling in XS units for ours, on the board's engine, where one is set. */
	target?: number;
	/** Floor for Moddable's ÷ ours, on the board's engine, where one is set. */
	ratio?: number;
}

export type ModdableClientClass = new (options: Record<string, unknown>) => {
	write(data: ArrayBufferLike | ArrayBufferView | null, options: Record<string, unknown>): number;
	read(count?: number): ArrayBuffer | undefined;
};

// The periodic diagnostics message is a path of its own (once a minute): off, so that (a) is a
// reading and nothing else, as it is on Moddable's side.
const config = parseConfig({ ssid: "bench", sensor: "tmp102", diagnostics_interval: "0" });
const { topics } = config;
const interval = config.sensor.interval;
const wallTime = 1795357918906;
const stringPayload = "21.53 degrees";
const bytePayload = Uint8Array.from(stringPayload, (c) => c.charCodeAt(0));
const acks = pubacks();

interface Rig {
	host: Host;
	/** The one socket open: the rig's connection to the broker. */
	socket(): BenchSocket;
	led: { writes: number };
}

/** A board whose sockets are `openSocket`'s, whose timers are Moddable's on a virtual clock, and whose log goes nowhere. */
function benchHost(openSocket: BoardSocket | undefined): Rig {
	const led = { writes: 0 };
	const encoder = new (globalThis as unknown as { TextEncoder: new () => { encode(text: string): Uint8Array } }).TextEncoder();
	const decoder = new (globalThis as unknown as { TextDecoder: new (label: string, options: { ignoreBOM: boolean }) => { decode(bytes: Uint8Array): string } }).TextDecoder("utf-8", { ignoreBOM: true });
	const host: Host = {
		name: "bench",
		utf8: decoder,
		utf8Encoder: encoder,
		clock: { now: clockNow, wallTime: () => wallTime + clockNow() },
		timers: { set: (callback, delay) => Timer.set(callback, delay), repeat: (callback, interval) => Timer.repeat(callback, interval), clear: (handle) => Timer.clear(handle as Parameters<typeof Timer.clear>[0]) },
		log: () => {},
		wifi: {
			connect: (_ssid, _password, onEvent) => void Timer.set(() => {
				onEvent("connect");
				onEvent("gotIP");
			}),
			disconnect: () => {},
		},
		resolve: (options) => void Timer.set(() => options.onError(options.host, "the bench has no DNS")),
		openSocket: (options) => (openSocket ?? fail("this rig has no socket"))(options),
		openSensor: () => ({ sample: () => ({ temperature: 21.53 }) }),
		openLed: () => ({ write: () => void led.writes++ }),
	};
	const socket = (): BenchSocket => {
		if (BenchSocket.open.size !== 1) fail(`${BenchSocket.open.size} sockets open, expected the rig's one`);
		return BenchSocket.open.values().next().value!;
	};
	return { host, socket, led };
}

function fail(message: string): never {
	throw new Error(message);
}

/** Acknowledges everything the client wrote, until it writes nothing more; returns the last QoS 1 id. */
function settle(socket: BenchSocket): number {
	let last = 0;
	for (let packets = socket.take(); packets.length; packets = socket.take()) {
		for (const packet of packets) {
			if (packet.type === 3 && packet.id) socket.deliver(broker.puback(last = packet.id));
			else if (packet.type === 8) socket.deliver(broker.suback(packet.id!, 1));
			runDue();
		}
	}
	socket.acknowledge();
	return last;
}

/** The packets' types, topics and ids, sorted: a client may write a PUBACK before or after what its handler published. */
function describe(packets: WrittenPacket[]): string {
	return packets.map((p) => `${p.type}${p.topic ? ` ${p.topic}` : ""}${p.id ? ` #${p.id}` : ""}`).sort().join(", ");
}

function expectPackets(packets: WrittenPacket[], expected: string): string | undefined {
	const seen = describe(packets);
	return seen === expected ? undefined : `wrote [${seen}], expected [${expected}]`;
}

// ---- ours -------------------------------------------------------------------

interface OurFirmware {
	rig: Rig;
	socket: BenchSocket;
	status(): Record<string, unknown>;
	lastId: number;
	/** Why the firmware is not as connected as it was at the start, if it is not. */
	stillConnected(): string | undefined;
}

function ourFirmware(board: BoardSocket): OurFirmware {
	const rig = benchHost(board);
	const firmware = startFirmware(rig.host, config);
	runDue();
	const socket = rig.socket();
	socket.connected();
	socket.deliver(broker.connack());
	runDue();
	const lastId = settle(socket);
	const start = firmware.status();
	if (start.mqtt !== "connected") fail(`the firmware did not connect: ${JSON.stringify(start)}`);
	const stillConnected = (): string | undefined => {
		const now = firmware.status();
		return now.mqtt !== "connected" || now.connects !== start.connects ? `the connection was lost: ${JSON.stringify(now)}` : undefined;
	};
	return { rig, socket, status: () => firmware.status(), lastId, stillConnected };
}

function ourClient(board: BoardSocket): { client: MqttClient; socket: BenchSocket } {
	const rig = benchHost(board);
	const client = new MqttClient({ host: rig.host, address: "127.0.0.1", port: 1883, clientId: "bench", keepalive: 0 });
	client.start();
	const socket = rig.socket();
	socket.connected();
	socket.deliver(broker.connack());
	runDue();
	if (client.state !== "connected") fail("the bench client did not connect");
	settle(socket);
	return { client, socket };
}

// ---- Moddable's -------------------------------------------------------------

interface TheirRig {
	client: InstanceType<ModdableClientClass>;
	socket: BenchSocket;
	encoder: { encode(text: string): Uint8Array };
	host: Host;
	controls: number[];
	messages: { topic: string | undefined; payload: Uint8Array }[];
	/** Inbound messages by topic, for the application to route. */
	routes: Map<string, (payload: Uint8Array) => void>;
}

function theirClient(MQTTClient: ModdableClientClass, subscribe?: string): TheirRig {
	const rig = benchHost(undefined);
	const controls: number[] = [];
	const messages: TheirRig["messages"] = [];
	const routes = new Map<string, (payload: Uint8Array) => void>();
	class ResolverIo {
		resolve(request: { host: string; onResolved(host: string, address: string): void }): void {
			request.onResolved(request.host, "127.0.0.1");
		}
	}
	const client = new MQTTClient({
		host: "broker.local", port: 1883, id: "bench", clean: true, keepalive: 0,
		// The bare ECMA-419 socket, as the SDK's example is given `embedded:io/socket/tcp`.
		socket: { io: BenchSocket }, dns: { io: ResolverIo },
		onControl: (message: { operation: number; id?: number }) => void controls.push(message.id ?? 0),
		// A message's bytes arrive in one or more pieces; the first names the topic.
		onReadable(this: InstanceType<ModdableClientClass>, _count: number, options: { topic?: string; more: boolean }): void {
			const route = options.topic === undefined ? undefined : routes.get(options.topic);
			const payload = new Uint8Array(this.read()!);
			if (route) route(payload);
			else messages.push({ topic: options.topic, payload });
		},
		onError: () => fail("Moddable's client reported an error"),
	});
	const the = rig.socket();
	the.connected();
	the.deliver(broker.connack());
	runDue();
	if (subscribe) {
		client.write(null, { operation: 8, items: [{ topic: subscribe, QoS: 1 }] });
		settle(the);
	}
	settle(the);
	return { client, socket: the, encoder: rig.host.utf8Encoder!, host: rig.host, controls, messages, routes };
}

// ---- the paths ----------------------------------------------------------------

/** Whether the LED state a run published is the LED's state now ("on"/"off"): each toggle must publish the new one. */
function publishedState(packets: WrittenPacket[], on: boolean): string | undefined {
	const payload = packets.find((p) => p.type === 3)?.payload;
	const published = payload === undefined ? "" : String.fromCharCode(...payload);
	return published === (on ? "on" : "off") ? undefined : `published the LED state "${published}", the LED is ${on ? "on" : "off"}`;
}

export const paths: Path[] = [
	{
		name: "(a) a QoS 1 reading: telemetry tick, JSON, publish written, PUBACK processed",
		target: 641,
		ratio: 2,
		ours(board) {
			const firmware = ourFirmware(board);
			let id = firmware.lastId;
			const before = firmware.status().readings as number;
			return {
				socket: firmware.socket,
				op: () => {
					advance(interval);
					id = nextId(id);
					firmware.socket.deliver(acks[id]!);
				},
				expect: (packets) => expectPackets(packets, `3 ${topics.temperature} #${id}`),
				check: (runs) => {
					const status = firmware.status();
					if (firmware.stillConnected()) return firmware.stillConnected();
					if (status.inflight !== 0) return `${status.inflight} readings left in flight`;
					if (status.readings !== before + runs) return `${status.readings as number - before} readings published, expected ${runs}`;
					return undefined;
				},
			};
		},
		theirs(MQTTClient) {
			const rig = theirClient(MQTTClient);
			let id = 0;
			const telemetry = new Telemetry({
				host: rig.host,
				openSensor: () => rig.host.openSensor(config.sensor),
				publish: (payload) => {
					rig.client.write(rig.encoder.encode(payload), { topic: topics.temperature, QoS: 1 });
				},
				interval, precision: config.sensor.precision, deadband: 0, heartbeat: config.sensor.heartbeat,
				onFault: (message) => fail(message), onRecovered: () => {},
			});
			telemetry.start();
			id = settle(rig.socket);
			const before = rig.controls.length;
			return {
				socket: rig.socket,
				op: () => {
					advance(interval);
					id = nextId(id);
					rig.socket.deliver(acks[id]!);
				},
				expect: (packets) => expectPackets(packets, `3 ${topics.temperature} #${id}`),
				check: (runs) => (rig.controls.length - before === runs ? undefined : `${rig.controls.length - before} PUBACKs processed, expected ${runs}`),
			};
		},
	},
	{
		name: "(b) a QoS 1 `toggle` in, LED driven, retained QoS 1 state out, both PUBACKs",
		target: 2514,
		ratio: 2,
		ours(board) {
			const firmware = ourFirmware(board);
			const command = toggleCommand();
			let id = firmware.lastId;
			const before = firmware.rig.led.writes;
			const ledCommands = firmware.status().ledCommands as number;
			return {
				socket: firmware.socket,
				op: () => {
					firmware.socket.deliver(command);
					id = nextId(id);
					firmware.socket.deliver(acks[id]!);
					runDue();
				},
				expect: (packets) => expectPackets(packets, `3 ${topics.ledState} #${id}, 4 #${commandId}`) ?? publishedState(packets, firmware.status().led === "on"),
				check: (runs) => {
					const status = firmware.status();
					if (firmware.stillConnected()) return firmware.stillConnected();
					if (status.inflight !== 0) return `${status.inflight} states left in flight`;
					if (status.ledCommands as number - ledCommands !== runs) return `${status.ledCommands as number - ledCommands} LED commands, expected ${runs}`;
					return firmware.rig.led.writes - before === runs ? undefined : "the LED was not driven once per command";
				},
			};
		},
		theirs(MQTTClient) {
			const rig = theirClient(MQTTClient, topics.ledCommand);
			const led = new LedActuator({
				output: rig.host.openLed(config.led.pin),
				activeLow: false,
				publishState: (state) => void rig.client.write(rig.encoder.encode(state), { topic: topics.ledState, QoS: 1, retain: true }),
				onRejected: (reason) => fail(reason),
			});
			rig.routes.set(topics.ledCommand, (payload) => led.command(payload));
			const command = toggleCommand();
			let id = 2; // the SUBSCRIBE took 2
			const before = led.commands;
			return {
				socket: rig.socket,
				op: () => {
					rig.socket.deliver(command);
					runDue();
					id = nextId(id);
					rig.socket.deliver(acks[id]!);
					runDue();
				},
				expect: (packets) => expectPackets(packets, `3 ${topics.ledState} #${id}, 4 #${commandId}`) ?? publishedState(packets, led.on),
				check: (runs) => (led.commands - before === runs ? undefined : `${led.commands - before} LED commands, expected ${runs}`),
			};
		},
	},
	qos0Publish("(c) QoS 0 publish, 13-character string payload", stringPayload, 261),
	qos0Publish("(c) QoS 0 publish, 13 bytes made beforehand", bytePayload),
	{
		name: "(c) inbound QoS 0 `on`, through subscribe()'s handler",
		ratio: 3.5,
		ours(board) {
			const { client, socket } = ourClient(board);
			let received = 0;
			client.subscribe(topics.ledCommand, 1, () => void received++);
			settle(socket);
			const chunk = broker.publish(topics.ledCommand, "on", 0);
			const before = received;
			return {
				socket,
				op: () => socket.deliver(chunk),
				expect: (packets) => expectPackets(packets, ""),
				check: (runs) => (client.state !== "connected" ? "disconnected" : received - before === runs ? undefined : `${received - before} messages handled, expected ${runs}`),
			};
		},
		theirs(MQTTClient) {
			const rig = theirClient(MQTTClient, topics.ledCommand);
			let received = 0;
			rig.routes.set(topics.ledCommand, () => void received++);
			const chunk = broker.publish(topics.ledCommand, "on", 0);
			const before = received;
			return {
				socket: rig.socket,
				op: () => {
					rig.socket.deliver(chunk);
					runDue();
				},
				expect: (packets) => expectPackets(packets, ""),
				check: (runs) => (received - before === runs ? undefined : `${received - before} messages handled, expected ${runs}`),
			};
		},
	},
	{
		name: "baseline: an empty operation (the harness, included in every figure)",
		ours: (board) => {
			const { socket } = ourClient(board);
			return { socket, op: () => {}, expect: (packets) => expectPackets(packets, ""), check: () => undefined };
		},
	},
];

/**
 * (c) a QoS 0 publish of `payload` (a string is encoded by each client as it
 * encodes strings), on both clients; the broker's TCP acknowledges it, so the
 * socket's onWritable is part of each run, as on a board.
 */
function qos0Publish(name: string, payload: string | Uint8Array, target?: number): Path {
	return {
		name,
		...(target === undefined ? {} : { target, ratio: 2 }),
		ours(board) {
			const { client, socket } = ourClient(board);
			return {
				socket,
				op: () => {
					client.publish(topics.temperature, payload);
					socket.acknowledge();
				},
				expect: (packets) => expectPackets(packets, `3 ${topics.temperature}`),
				check: () => (client.state === "connected" ? undefined : "disconnected"),
			};
		},
		theirs(MQTTClient) {
			const rig = theirClient(MQTTClient);
			const write = typeof payload === "string"
				? (): number => rig.client.write(rig.encoder.encode(payload), { topic: topics.temperature })
				: (): number => rig.client.write(payload, { topic: topics.temperature });
			return {
				socket: rig.socket,
				op: () => {
					write();
					rig.socket.acknowledge();
				},
				expect: (packets) => expectPackets(packets, `3 ${topics.temperature}`),
				check: () => undefined,
			};
		},
	};
}

/** The broker's LED command at QoS 1: `toggle`, packet id 7. */
const commandId = 7;
function toggleCommand(): Uint8Array {
	return broker.publish(topics.ledCommand, "toggle", 1, commandId);
}
