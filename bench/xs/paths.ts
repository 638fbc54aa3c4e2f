/*
 * The paths the firmware really takes, metered on a release XS engine, and
 * the same MQTT work done by Moddable's own ECMA-419 client
 * (examples/io/tcp/mqttclient) on the same socket, timers and encoder:
 *
 * (a) a reading: the telemetry timer fires, the sensor is read, the JSON is
 *     built, published at QoS 1 and written; the broker's PUBACK is read and
 *     processed;
 * (b) an LED command at QoS 1: the PUBLISH is read, the LED driven, its state
 *     published at QoS 1 and written, the command's PUBACK written, and the
 *     state's PUBACK read and processed;
 * (c) QoS 0 publishes of a 13-character string and of 13 bytes, and an
 *     inbound QoS 0 `on` handed to a handler.
 *
 * Ours is the firmware itself (firmware/app on a bench host) for (a) and (b),
 * and the bare MqttClient for (c), each driven only through the host's
 * socket, timers and the client's public API. Moddable's client gets the same
 * application code (Telemetry, LedActuator) around it. Every path is checked
 * on the wire before it is metered, and its end state after.
 */
import type { Host } from "platform";
import { MqttClient } from "mqtt/client";
import { startFirmware } from "firmware/app";
import { parseConfig } from "config";
import { Telemetry } from "firmware/telemetry";
import { LedActuator } from "firmware/led";
import Timer, { advance, clockNow, runDue } from "bench/xs/moddable-timer";
import { BenchSocket, broker, nextId, pubacks, sendBuffer, type SocketCallbacks, type WrittenPacket } from "bench/xs/wire";

/** One side of a comparison: `op` is metered; `check` tells whether the runs did what they should. */
export interface Bench {
	op(): void;
	check(runs: number): string | undefined;
}

export interface Path {
	name: string;
	ours(): Bench;
	/** Moddable's client doing the same MQTT work; absent where it has no such path. */
	theirs?(client: ModdableClientClass): Bench;
	/** Ceiling in XS units for ours, where the issue sets one. */
	target?: number;
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
	socket(): BenchSocket;
	led: { writes: number };
}

/** A board whose socket is a BenchSocket, whose timers are Moddable's on a virtual clock, and whose log goes nowhere. */
function benchHost(): Rig {
	let socket: BenchSocket | undefined;
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
		openSocket: (options) => (socket = new BenchSocket(options)),
		openSensor: () => ({ sample: () => ({ temperature: 21.53 }) }),
		openLed: () => ({ write: () => void led.writes++ }),
	};
	return { host, socket: () => socket ?? fail("no socket was opened"), led };
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
	return last;
}

/** Runs `op` three times on a capturing socket and checks each run's packets; metering then runs without capture. */
function proven(socket: BenchSocket, op: () => void, expect: (packets: WrittenPacket[], run: number) => string | undefined): void {
	for (let run = 0; run < 3; run++) {
		op();
		const problem = expect(socket.take(), run);
		if (problem) throw new Error(problem);
	}
	socket.capture = undefined;
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

function ourFirmware(): OurFirmware {
	const rig = benchHost();
	const firmware = startFirmware(rig.host, config);
	runDue();
	const socket = rig.socket();
	socket.callbacks.onWritable(sendBuffer);
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

function ourClient(): { client: MqttClient; socket: BenchSocket } {
	const rig = benchHost();
	const client = new MqttClient({ host: rig.host, address: "127.0.0.1", port: 1883, clientId: "bench", keepalive: 0 });
	client.start();
	const socket = rig.socket();
	socket.callbacks.onWritable(sendBuffer);
	socket.deliver(broker.connack());
	runDue();
	if (client.state !== "connected") fail("the bench client did not connect");
	socket.take();
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
	const rig = benchHost();
	let socket: BenchSocket | undefined;
	const controls: number[] = [];
	const messages: TheirRig["messages"] = [];
	const routes = new Map<string, (payload: Uint8Array) => void>();
	class SocketIo {
		constructor(options: SocketCallbacks) {
			return (socket = new BenchSocket(options));
		}
	}
	class ResolverIo {
		resolve(request: { host: string; onResolved(host: string, address: string): void }): void {
			request.onResolved(request.host, "127.0.0.1");
		}
	}
	const client = new MQTTClient({
		host: "broker.local", port: 1883, id: "bench", clean: true, keepalive: 0,
		socket: { io: SocketIo }, dns: { io: ResolverIo },
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
	const the = socket ?? fail("Moddable's client opened no socket");
	the.callbacks.onWritable(sendBuffer);
	the.deliver(broker.connack());
	runDue();
	if (subscribe) {
		client.write(null, { operation: 8, items: [{ topic: subscribe, QoS: 1 }] });
		settle(the);
	}
	the.take();
	return { client, socket: the, encoder: rig.host.utf8Encoder!, host: rig.host, controls, messages, routes };
}

// ---- the paths ----------------------------------------------------------------

export const paths: Path[] = [
	{
		name: "(a) reading: telemetry tick, JSON, QoS 1 publish written, PUBACK processed",
		target: 1500,
		ours() {
			const firmware = ourFirmware();
			let id = firmware.lastId;
			const before = firmware.status().readings as number;
			const op = (): void => {
				advance(interval);
				id = nextId(id);
				firmware.socket.deliver(acks[id]!);
			};
			proven(firmware.socket, op, (packets) => expectPackets(packets, `3 ${topics.temperature} #${id}`));
			return {
				op,
				check: (runs) => {
					const status = firmware.status();
					if (firmware.stillConnected()) return firmware.stillConnected();
					if (status.inflight !== 0) return `${status.inflight} readings left in flight`;
					if (status.readings !== before + runs + 3) return `${status.readings as number - before} readings published, expected ${runs + 3}`;
					return undefined;
				},
			};
		},
		theirs(MQTTClient) {
			const rig = theirClient(MQTTClient);
			let id = 1;
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
			id = nextId(id);
			rig.socket.deliver(acks[id]!);
			rig.socket.take();
			const op = (): void => {
				advance(interval);
				id = nextId(id);
				rig.socket.deliver(acks[id]!);
			};
			proven(rig.socket, op, (packets) => expectPackets(packets, `3 ${topics.temperature} #${id}`));
			const before = rig.controls.length;
			return { op, check: (runs) => (rig.controls.length - before === runs ? undefined : `${rig.controls.length - before} PUBACKs processed, expected ${runs}`) };
		},
	},
	{
		name: "(b) LED command at QoS 1: PUBLISH in, LED driven, state published at QoS 1, PUBACK out, state's PUBACK processed",
		target: 1500,
		ours() {
			const firmware = ourFirmware();
			const commands = commandStream();
			let id = firmware.lastId;
			let run = 0;
			const before = firmware.rig.led.writes;
			const op = (): void => {
				firmware.socket.deliver(commands[run++ & 1]!);
				id = nextId(id);
				firmware.socket.deliver(acks[id]!);
				runDue();
			};
			proven(firmware.socket, op, (packets) => expectPackets(packets, `3 ${topics.ledState} #${id}, 4 #${commandId}`)
				?? (packets.find((p) => p.type === 3)!.payload![1] === (run & 1 ? 0x6e : 0x66) ? undefined : "the LED state published is not the one commanded"));
			return {
				op,
				check: (runs) => {
					const status = firmware.status();
					if (firmware.stillConnected()) return firmware.stillConnected();
					if (status.inflight !== 0) return `${status.inflight} states left in flight`;
					if (status.ledCommands !== runs + 3) return `${status.ledCommands} LED commands, expected ${runs + 3}`;
					return firmware.rig.led.writes - before === runs + 3 ? undefined : "the LED was not driven once per command";
				},
			};
		},
		theirs(MQTTClient) {
			const rig = theirClient(MQTTClient, topics.ledCommand);
			const hardware = benchHost();
			const led = new LedActuator({
				output: hardware.host.openLed(config.led.pin),
				activeLow: false,
				publishState: (state) => void rig.client.write(rig.encoder.encode(state), { topic: topics.ledState, QoS: 1, retain: true }),
				onRejected: (reason) => fail(reason),
			});
			rig.routes.set(topics.ledCommand, (payload) => led.command(payload));
			rig.socket.take();
			const commands = commandStream();
			let id = 2; // the SUBSCRIBE took 2
			let run = 0;
			const op = (): void => {
				rig.socket.deliver(commands[run++ & 1]!);
				runDue();
				id = nextId(id);
				rig.socket.deliver(acks[id]!);
				runDue();
			};
			proven(rig.socket, op, (packets) => expectPackets(packets, `3 ${topics.ledState} #${id}, 4 #${commandId}`));
			const before = led.commands;
			return { op, check: (runs) => (led.commands - before === runs ? undefined : `${led.commands - before} LED commands, expected ${runs}`) };
		},
	},
	qos0Publish("(c) QoS 0 publish, 13-character string payload", stringPayload, 320),
	qos0Publish("(c) QoS 0 publish, 13 bytes made beforehand", bytePayload),
	{
		name: "(c) inbound QoS 0 `on`, handed to a subscription's handler",
		ours() {
			const { client, socket } = ourClient();
			let received = 0;
			client.subscribe(topics.ledCommand, 1, () => void received++);
			settle(socket);
			const chunk = broker.publish(topics.ledCommand, "on", 0);
			const op = (): void => socket.deliver(chunk);
			proven(socket, op, (packets) => expectPackets(packets, ""));
			const before = received;
			return { op, check: (runs) => (received - before === runs ? undefined : `${received - before} messages handled, expected ${runs}`) };
		},
		theirs(MQTTClient) {
			const rig = theirClient(MQTTClient, topics.ledCommand);
			let received = 0;
			rig.routes.set(topics.ledCommand, () => void received++);
			const chunk = broker.publish(topics.ledCommand, "on", 0);
			const op = (): void => {
				rig.socket.deliver(chunk);
				runDue();
			};
			proven(rig.socket, op, (packets) => expectPackets(packets, ""));
			const before = received;
			return { op, check: (runs) => (received - before === runs ? undefined : `${received - before} messages handled, expected ${runs}`) };
		},
	},
	{
		name: "baseline: an empty operation (the harness, included in every figure)",
		ours: () => ({ op: () => {}, check: () => undefined }),
	},
];

/** (c) a QoS 0 publish of `payload` (a string is encoded by each client as it encodes strings), on both clients. */
function qos0Publish(name: string, payload: string | Uint8Array, target?: number): Path {
	return {
		name,
		...(target === undefined ? {} : { target }),
		ours() {
			const { client, socket } = ourClient();
			const op = (): void => void client.publish(topics.temperature, payload);
			proven(socket, op, (packets) => expectPackets(packets, `3 ${topics.temperature}`));
			return { op, check: () => (client.state === "connected" ? undefined : "disconnected") };
		},
		theirs(MQTTClient) {
			const rig = theirClient(MQTTClient);
			const op = typeof payload === "string"
				? (): void => void rig.client.write(rig.encoder.encode(payload), { topic: topics.temperature })
				: (): void => void rig.client.write(payload, { topic: topics.temperature });
			proven(rig.socket, op, (packets) => expectPackets(packets, `3 ${topics.temperature}`));
			return { op, check: () => undefined };
		},
	};
}

/** The broker's LED commands at QoS 1, `on` and `off` in turn, both with packet id 7. */
const commandId = 7;
function commandStream(): Uint8Array[] {
	return [broker.publish(topics.ledCommand, "on", 1, commandId), broker.publish(topics.ledCommand, "off", 1, commandId)];
}
