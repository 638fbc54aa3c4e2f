/*
 * The firmware on the XS host simulator, on a virtual clock, against a
 * real mosquitto on loopback: simulated hours and days in real seconds
 * and minutes.
 *
 * The clock may only move while the network is quiet. Before each step
 * the rig waits, in real time, until every socket the board opened has
 * connected and every request the firmware sent (CONNECT, a QoS 1 or 2
 * PUBLISH, PUBREL, SUBSCRIBE, UNSUBSCRIBE, PINGREQ) has had its answer,
 * and the engine has handled it. Otherwise a fast clock would trip the
 * firmware's own CONNACK and PINGRESP timeouts against a broker that
 * answers in a millisecond. A link the test has broken never goes
 * quiet: after `stallTimeout` real ms the clock moves anyway, and the
 * firmware's timeouts take over, as they would on a device.
 */
import mqtt from "mqtt";
import { Board, VirtualTime, type OpenSocketOptions, type SocketEvents, type BoardSocket } from "../../hosts/simulated-board/board.js";
import { XsSimulator } from "../../hosts/xsnap/node-side.js";
import { FaultProxy, splitPackets } from "./fault-proxy.js";
import { manifestConfig } from "./firmware.js";
import { Mosquitto, type MosquittoOptions } from "./mosquitto.js";

/** Packets the broker answers (CONNECT, PUBREL, SUBSCRIBE, UNSUBSCRIBE, PINGREQ; and PUBLISH at QoS 1 or 2), and the answers. */
const requests = new Set([1, 6, 8, 10, 12]);
const answers = new Set([2, 4, 5, 7, 9, 11, 13]);

/** What the firmware put on the wire and got from it. */
export interface Traffic {
	bytesOut: number;
	bytesIn: number;
	/** Packets by type. */
	packetsOut: Map<number, number>;
	packetsIn: Map<number, number>;
}

function tally(packets: Map<number, number>, type: number): void {
	packets.set(type, (packets.get(type) ?? 0) + 1);
}

/** What one socket still waits for. */
interface Link {
	connecting: boolean;
	outstanding: number;
	sent: Buffer;
	received: Buffer;
}

/** Calls `each(type, flags)` for every whole MQTT packet in `pending` + `bytes`; returns what is left. */
function eachPacket(pending: Buffer, bytes: Uint8Array, each: (type: number, flags: number) => void): Buffer {
	const { packets, rest } = splitPackets(Buffer.concat([pending, bytes]));
	for (const packet of packets) each(packet[0]! >> 4, packet[0]! & 0x0f);
	return Buffer.from(rest);
}

export interface Reading {
	seq: number;
	ts: number;
	temperature: number;
}

/** Readings as a subscriber saw them: order, duplicates and gaps, in constant memory per reading. */
export class DeliveryTracker {
	received = 0;
	duplicates = 0;
	/** Duplicates the broker marked DUP: its own redelivery to the subscriber, not the firmware's retransmission. */
	brokerRedeliveries = 0;
	outOfOrder = 0;
	highest = 0;
	#seen = new Uint8Array(1024);

	add(seq: number, dup = false): void {
		this.received++;
		if (seq >= this.#seen.length * 8) {
			const grown = new Uint8Array(Math.max(this.#seen.length * 2, (seq >> 3) + 1));
			grown.set(this.#seen);
			this.#seen = grown;
		}
		const bit = 1 << (seq & 7);
		if (this.#seen[seq >> 3]! & bit) {
			this.duplicates++;
			if (dup) this.brokerRedeliveries++;
			return;
		}
		this.#seen[seq >> 3]! |= bit;
		if (seq < this.highest) this.outOfOrder++;
		else this.highest = seq;
	}

	has(seq: number): boolean {
		return seq < this.#seen.length * 8 && (this.#seen[seq >> 3]! & (1 << (seq & 7))) !== 0;
	}

	/** Sequence numbers up to the highest seen that never arrived. */
	missing(): number[] {
		const missing: number[] = [];
		for (let seq = 1; seq <= this.highest; seq++) if (!this.has(seq)) missing.push(seq);
		return missing;
	}
}

export interface RigOptions {
	broker: Mosquitto;
	/** Config over the manifest's defaults. */
	config?: Record<string, string>;
	/** Unique per rig in one broker: topics and client ids hang off it. */
	name: string;
	/** Real ms the clock waits for a quiet network before moving anyway. */
	stallTimeout?: number;
	/** Keep every reading received (a soak of days keeps only the tracker). */
	keepReadings?: boolean;
}

export class VirtualRig {
	readonly board: Board;
	readonly time: VirtualTime;
	readonly simulator: XsSimulator;
	readonly proxy: FaultProxy;
	readonly subscriber: mqtt.MqttClient;
	readonly prefix: string;
	/** Readings as the persistent subscriber got them, in arrival order (when kept). */
	readonly readings: Reading[] = [];
	readonly delivery = new DeliveryTracker();
	/** LED states the firmware published. */
	ledStates = 0;
	lastLedState: string | undefined;
	/** UTF-8 bytes of every reading's payload received. */
	readingPayloadBytes = 0;
	/** Times the clock moved on without a quiet network. */
	stalls = 0;
	/** What the firmware put on the wire and got from it, for wire-efficiency figures. */
	readonly traffic: Traffic;
	/** Whether the clock waits for the broker's answers; off while a test makes the broker withhold them. */
	awaitAnswers = true;
	readonly #links: Map<BoardSocket, Link>;
	readonly #stallTimeout: number;
	readonly #keepReadings: boolean;
	#wake: (() => void) | undefined;

	private constructor(parts: { board: Board; time: VirtualTime; simulator: XsSimulator; proxy: FaultProxy; subscriber: mqtt.MqttClient; prefix: string; links: Map<BoardSocket, Link>; traffic: Traffic; options: RigOptions }) {
		this.board = parts.board;
		this.time = parts.time;
		this.simulator = parts.simulator;
		this.proxy = parts.proxy;
		this.subscriber = parts.subscriber;
		this.prefix = parts.prefix;
		this.#links = parts.links;
		this.traffic = parts.traffic;
		this.#stallTimeout = parts.options.stallTimeout ?? 2000;
		this.#keepReadings = parts.options.keepReadings ?? true;
	}

	static async start(options: RigOptions): Promise<VirtualRig> {
		const { broker, name } = options;
		const prefix = `soak/${name}`;
		// The subscriber a user would leave running: a persistent session, so nothing published while it is away is lost.
		const subscriber = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: `${name}-subscriber`, clean: false, reconnectPeriod: 100 });
		await subscriber.subscribeAsync([`${prefix}/temp`, `${prefix}/led/state`], { qos: 1 });
		const time = new VirtualTime();
		time.wallOffset = Date.UTC(2026, 10, 1);
		const board = new Board({ time, logLimit: 2000 });
		const proxy = await FaultProxy.start(broker.port);
		const links = new Map<BoardSocket, Link>();
		const traffic: Traffic = { bytesOut: 0, bytesIn: 0, packetsOut: new Map(), packetsIn: new Map() };
		let notify = (): void => {};
		const open = board.openSocket.bind(board);
		board.openSocket = (socketOptions: OpenSocketOptions, events: SocketEvents): BoardSocket => {
			const link: Link = { connecting: true, outstanding: 0, sent: Buffer.alloc(0), received: Buffer.alloc(0) };
			const socket = open(socketOptions, {
				onReadable: (bytes) => {
					traffic.bytesIn += bytes.byteLength;
					link.received = eachPacket(link.received, bytes, (type) => {
						tally(traffic.packetsIn, type);
						if (answers.has(type)) link.outstanding = Math.max(0, link.outstanding - 1);
					});
					events.onReadable(bytes);
					notify();
				},
				onWritable: (count) => {
					link.connecting = false;
					events.onWritable(count);
					notify();
				},
				onError: (message) => {
					links.delete(socket);
					events.onError(message);
					notify();
				},
			});
			const write = socket.write.bind(socket);
			socket.write = (bytes: Uint8Array): void => {
				traffic.bytesOut += bytes.byteLength;
				link.sent = eachPacket(link.sent, bytes, (type, flags) => {
					tally(traffic.packetsOut, type);
					if (requests.has(type) || (type === 3 && flags & 0x06)) link.outstanding++;
				});
				write(bytes);
			};
			links.set(socket, link);
			return socket;
		};
		const close = board.closeSocket.bind(board);
		board.closeSocket = (socket: BoardSocket): void => {
			links.delete(socket);
			close(socket);
		};
		const simulator = await XsSimulator.start({
			board,
			config: {
				...manifestConfig(), ssid: "simulator", sensor: "simulated",
				mqtt_port: String(proxy.port), mqtt_client_id: `${name}-device`,
				sensor_interval: "1000", wifi_backoff_max: "10000", mqtt_backoff_max: "10000",
				topic_temperature: `${prefix}/temp`, topic_status: `${prefix}/status`, topic_events: `${prefix}/events`,
				topic_led_command: `${prefix}/led`, topic_led_state: `${prefix}/led/state`,
				...options.config,
			},
		});
		const rig = new VirtualRig({ board, time, simulator, proxy, subscriber, prefix, links, traffic, options });
		notify = () => rig.#notify();
		subscriber.on("message", (topic, payload, packet) => rig.#message(topic, payload, packet.dup));
		await rig.settle();
		return rig;
	}

	#message(topic: string, payload: Buffer, dup: boolean): void {
		if (topic === `${this.prefix}/temp`) {
			this.readingPayloadBytes += payload.byteLength;
			const reading = JSON.parse(payload.toString()) as Reading;
			this.delivery.add(reading.seq, dup);
			if (this.#keepReadings) this.readings.push({ seq: reading.seq, ts: reading.ts, temperature: reading.temperature });
		} else {
			this.ledStates++;
			this.lastLedState = payload.toString();
		}
		this.#notify();
	}
	#notify(): void {
		const wake = this.#wake;
		this.#wake = undefined;
		wake?.();
	}

	/** Waits for an event or a real-time tick, whichever comes first. */
	#nextEvent(ms: number): Promise<void> {
		return new Promise((resolve) => {
			const timer = setTimeout(() => {
				this.#wake = undefined;
				resolve();
			}, ms);
			this.#wake = () => {
				clearTimeout(timer);
				resolve();
			};
		});
	}

	/** True while some socket is connecting or has a request unanswered. */
	get busy(): boolean {
		for (const link of this.#links.values()) if (link.connecting || (this.awaitAnswers && link.outstanding > 0)) return true;
		return false;
	}

	/** Waits, in real time, until the network is quiet and the engine has handled everything. */
	async settle(): Promise<void> {
		const deadline = performance.now() + this.#stallTimeout;
		for (;;) {
			await this.simulator.idle();
			if (!this.busy) return;
			if (performance.now() > deadline) {
				this.stalls++;
				return;
			}
			await this.#nextEvent(2);
		}
	}

	/** Moves the virtual clock `ms` forward, one firmware timer at a time, each on a quiet network. */
	async advance(ms: number): Promise<void> {
		await this.settle();
		await this.time.advance(ms, () => this.settle());
	}

	/** Waits in real time (the clock stands still) until `condition` holds. */
	async until(condition: () => boolean, realTimeout = 5000, what = condition.toString()): Promise<void> {
		const deadline = performance.now() + realTimeout;
		for (;;) {
			await this.settle();
			if (condition()) return;
			if (performance.now() > deadline) throw new Error(`timed out after ${realTimeout} real ms waiting for ${what}`);
			await this.#nextEvent(5);
		}
	}

	/** Sends an LED command as a user would, and waits until the firmware has driven the LED and published its state. */
	async ledCommand(payload: string): Promise<void> {
		const writes = this.board.led.writes;
		const states = this.ledStates;
		await this.subscriber.publishAsync(`${this.prefix}/led`, payload, { qos: 1 });
		await this.until(() => this.board.led.writes > writes && this.ledStates > states, 5000, `LED command ${payload}`);
	}

	/** MQTT state changes the firmware logged, with their virtual times. */
	mqttLog(pattern: RegExp): { at: number; message: string }[] {
		return this.board.logs.filter((r) => r.tag === "mqtt" && pattern.test(r.message));
	}

	/** What the engine holds after a full garbage collection, and what the Node side holds for it. */
	async census(): Promise<{ heapSlots: number; xsTimers: number; xsSockets: number; boardTimers: number; boardSockets: number; proxyConnections: number }> {
		await this.settle();
		const census = await this.simulator.census();
		return {
			heapSlots: census.heapSlots,
			xsTimers: census.timers,
			xsSockets: census.sockets,
			boardTimers: this.time.pending,
			boardSockets: this.board.sockets.size,
			proxyConnections: this.proxy.connections.size,
		};
	}

	async close(): Promise<void> {
		await this.simulator.close();
		await this.proxy.close();
		await this.subscriber.endAsync(true);
	}
}

/** What `rigsOnOneBroker` gives a suite: its broker, and the test's rig, closed after the test. */
export interface RigSuite {
	broker: Mosquitto;
	rig: VirtualRig | undefined;
}

/**
 * The mocha hooks of a suite whose tests each run a rig against one
 * mosquitto: the broker starts before the suite and stops after it; after
 * each test its rig is closed, and a broker the test stopped runs again.
 */
export function rigsOnOneBroker(options: MosquittoOptions): RigSuite {
	const suite = { rig: undefined } as RigSuite;
	before(async function () {
		suite.broker = await Mosquitto.start(options);
	});
	afterEach(async function () {
		await suite.rig?.close();
		suite.rig = undefined;
		if (!suite.broker.running) await suite.broker.restart();
	});
	after(async function () {
		await suite.broker?.stop();
	});
	return suite;
}
