/*
 * The simulated board, on Node: time, TCP/TLS to real brokers on loopback,
 * a Wi-Fi radio, a temperature sensor, an LED and a log. The rest of the
 * board is beside it in hosts/simulated-board: its listening sockets, its
 * flash, and the modules that also run inside XS (simulated/socket, the
 * socket limits; simulated/timers; simulated/sensor). Both host
 * simulators use it: the Node host calls it directly, and the XS host
 * simulator serves it to the firmware running inside the XS engine.
 *
 * Tests drive the board through it: they move virtual time, drop Wi-Fi,
 * break the sensor and watch the LED.
 */
import net from "node:net";
import tls from "node:tls";
import dns from "node:dns";
import { EventEmitter } from "node:events";
import { createHash } from "node:crypto";
import os from "node:os";
import type { LogLevel, SensorOptions, WifiEvent } from "platform";
import { linWriteBudget } from "simulated/socket";
import { SimulatedSensor } from "simulated/sensor";
import { formatLogLine } from "log";
import { describeDnsFailure, type DnsFailure } from "net/dns-failure";
import { BoardListener, type AcceptedConnection } from "./listener.js";
import { BoardFlash } from "./flash.js";
import { endSocket, resetSocket } from "./connection-end.js";

/** Time as the board sees it: real, or virtual and moved by the test. */
export interface BoardTime {
	now(): number;
	wallTime(): number | undefined;
	set(callback: () => void, delay: number): number;
	clear(id: number): void;
}

export class RealTime implements BoardTime {
	readonly #start = performance.now();
	readonly #timers = new Map<number, NodeJS.Timeout>();
	#next = 1;
	now(): number {
		return Math.floor(performance.now() - this.#start);
	}
	wallTime(): number {
		return Date.now();
	}
	set(callback: () => void, delay: number): number {
		const id = this.#next++;
		this.#timers.set(id, setTimeout(() => {
			this.#timers.delete(id);
			callback();
		}, Math.max(0, delay)));
		return id;
	}
	clear(id: number): void {
		clearTimeout(this.#timers.get(id));
		this.#timers.delete(id);
	}
	/** Timers still armed; a soak checks that this does not grow. */
	get pending(): number {
		return this.#timers.size;
	}
}

/** A virtual clock: timers fire only when the test advances time. */
export class VirtualTime implements BoardTime {
	#now = 0;
	#next = 1;
	readonly #timers = new Map<number, { due: number; callback: () => void }>();
	/** Epoch ms at uptime 0, once "SNTP" has set it. */
	wallOffset: number | undefined;

	now(): number {
		return this.#now;
	}
	wallTime(): number | undefined {
		return this.wallOffset === undefined ? undefined : this.wallOffset + this.#now;
	}
	set(callback: () => void, delay: number): number {
		const id = this.#next++;
		this.#timers.set(id, { due: this.#now + Math.max(0, delay), callback });
		return id;
	}
	clear(id: number): void {
		this.#timers.delete(id);
	}
	get pending(): number {
		return this.#timers.size;
	}
	/** The earliest due time, if any timer is armed. */
	nextDue(): number | undefined {
		let due: number | undefined;
		for (const timer of this.#timers.values()) if (due === undefined || timer.due < due) due = timer.due;
		return due;
	}
	/**
	 * Moves time forward by `ms`, firing due timers in order. `settle` runs
	 * after each timer so that async work (the XS bridge, sockets) it
	 * started completes before the next one fires.
	 */
	async advance(ms: number, settle: () => Promise<void> = async () => {}): Promise<void> {
		const end = this.#now + ms;
		for (;;) {
			let first: [number, { due: number; callback: () => void }] | undefined;
			for (const entry of this.#timers) if (entry[1].due <= end && (!first || entry[1].due < first[1].due)) first = entry;
			if (!first) break;
			this.#timers.delete(first[0]);
			this.#now = Math.max(this.#now, first[1].due);
			first[1].callback();
			await settle();
		}
		this.#now = end;
		await settle();
	}
}

export interface SocketEvents {
	onReadable(bytes: Uint8Array): void;
	onWritable(count: number): void;
	onError(message: string): void;
}

export interface OpenSocketOptions {
	address: string;
	port: number;
	tls?: { serverName: string; ca?: string };
}

/** Only loopback: tests and the simulator never reach another address. */
function assertLoopback(address: string): void {
	if (!/^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(address)) {
		throw new Error(`the simulated board connects to loopback only, not ${address}`);
	}
}

/**
 * A TCP (or TLS) connection of the board. Like Moddable's lin socket, it
 * announces its writable budget through onWritable(budget) once connected,
 * and again on the next turn of the event loop after anything was written,
 * once Node's own buffer has drained. The socket adapters (hosts/node and
 * the XS host) refuse writes past it with "would block", as Moddable does.
 */
export class BoardSocket {
	readonly #socket: net.Socket;
	readonly #budget: number;
	#closed = false;
	#refill: NodeJS.Immediate | undefined;

	constructor(options: OpenSocketOptions, events: SocketEvents, budget = linWriteBudget) {
		assertLoopback(options.address);
		const { address: host, port } = options;
		this.#socket = options.tls
			? tls.connect({ host, port, servername: options.tls.serverName, ...(options.tls.ca ? { ca: options.tls.ca } : {}) })
			: net.connect({ host, port });
		this.#budget = budget;
		this.#socket.setNoDelay(true);
		let open = false;
		this.#announce = () => {
			this.#refill = undefined;
			if (this.#closed || this.#socket.writableNeedDrain) return;
			events.onWritable(this.#budget);
		};
		this.#socket.on(options.tls ? "secureConnect" : "connect", () => {
			open = true;
			events.onWritable(this.#budget);
		});
		this.#socket.on("data", (data: Buffer) => {
			if (!this.#closed) events.onReadable(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
		});
		this.#socket.on("drain", () => {
			if (!this.#closed && this.#refill === undefined) this.#refill = setImmediate(this.#announce);
		});
		// A failed handshake says so: "unable to verify the first certificate" alone does not name TLS.
		this.#socket.on("error", (error: Error) => this.#fail(options.tls && !open ? `TLS handshake with ${options.tls.serverName} failed: ${error.message}` : error.message, events));
		this.#socket.on("close", () => this.#fail("connection closed by peer", events));
	}

	readonly #announce: () => void;

	/** Bytes the adapter let through; the budget comes back on the next turn. */
	write(bytes: Uint8Array): void {
		if (this.#closed) return;
		this.#socket.write(bytes);
		if (this.#refill === undefined) this.#refill = setImmediate(this.#announce);
	}

	/** Orderly close: what was written (a DISCONNECT) still goes out. */
	close(): void {
		this.#closed = true;
		if (this.#refill !== undefined) clearImmediate(this.#refill);
		endSocket(this.#socket);
	}

	/** Abrupt loss, as a power cut or a dead access point: nothing more is sent. */
	destroy(): void {
		this.#closed = true;
		if (this.#refill !== undefined) clearImmediate(this.#refill);
		resetSocket(this.#socket);
	}

	#fail(message: string, events: SocketEvents): void {
		if (this.#closed) return;
		this.#closed = true;
		if (this.#refill !== undefined) clearImmediate(this.#refill);
		this.#socket.destroy();
		events.onError(message);
	}
}

let boardsMade = 0;

/**
 * A locally administered MAC (02:...) for a simulated radio, from the
 * machine's name, the process and the board's number in it: two simulators
 * against one broker get two identities, as two ESP32s would.
 */
export function simulatedMac(seed = `${os.hostname()}/${process.pid}/${++boardsMade}`): string {
	const digest = createHash("sha256").update(seed).digest();
	return ["02", ...Array.from(digest.subarray(0, 5), (byte) => byte.toString(16).padStart(2, "0"))].join(":");
}

/** The simulated radio: it associates after `associateDelay` unless the AP is down. */
export class BoardWifi extends EventEmitter {
	/** What Net.get("MAC") gives on a device. */
	readonly mac: string;
	accessPointUp = true;
	associateDelay = 50;
	#listener: ((event: WifiEvent) => void) | undefined;
	#connected = false;
	#attempt: number | undefined;
	#time: BoardTime;

	constructor(time: BoardTime, mac: string) {
		super();
		this.#time = time;
		this.mac = mac;
	}

	get connected(): boolean {
		return this.#connected;
	}

	connect(ssid: string, onEvent: (event: WifiEvent) => void): void {
		this.#listener = onEvent;
		if (this.#attempt !== undefined) this.#time.clear(this.#attempt);
		this.#attempt = this.#time.set(() => {
			this.#attempt = undefined;
			if (!this.accessPointUp) {
				this.#emit("disconnect");
				return;
			}
			this.#connected = true;
			this.emit("associated", ssid);
			this.#emit("connect");
			this.#emit("gotIP");
		}, this.associateDelay);
	}

	disconnect(): void {
		if (this.#attempt !== undefined) this.#time.clear(this.#attempt);
		this.#attempt = undefined;
		this.#connected = false;
	}

	/** The access point goes away (or comes back). */
	setAccessPoint(up: boolean): void {
		this.accessPointUp = up;
		if (!up && this.#connected) {
			this.#connected = false;
			this.#emit("disconnect");
		}
	}

	#emit(event: WifiEvent): void {
		this.emit("event", event);
		this.#listener?.(event);
	}
}

/**
 * The simulated sensor: a daily curve plus noise, with humidity; one sample
 * in three fails once the firmware opens it as simulated-faulty; or a value
 * or fault set by a test.
 */
export class BoardSensor {
	/** A fixed reading instead of the curve. */
	value: number | undefined;
	/** When set, sampling throws this (a bus fault) or returns NaN. */
	fault: "throw" | "nan" | undefined;
	readonly #time: BoardTime;
	readonly #seed: number;
	#simulated: SimulatedSensor;
	samples = 0;
	#options: SensorOptions | undefined;

	constructor(time: BoardTime, seed = 1) {
		this.#time = time;
		this.#seed = seed;
		this.#simulated = this.#open(false);
	}

	/** What the firmware opened the sensor with. */
	get options(): SensorOptions | undefined {
		return this.#options;
	}

	set options(options: SensorOptions | undefined) {
		const faulty = options?.kind === "simulated-faulty";
		if (faulty !== (this.#options?.kind === "simulated-faulty")) this.#simulated = this.#open(faulty);
		this.#options = options;
	}

	sample(): { temperature: number; humidity?: number } {
		this.samples++;
		if (this.fault === "throw") throw new Error("sensor did not acknowledge on the I2C bus");
		if (this.fault === "nan") return { temperature: NaN };
		if (this.value !== undefined) return { temperature: this.value };
		return this.#simulated.sample();
	}

	#open(faulty: boolean): SimulatedSensor {
		return new SimulatedSensor({ seed: this.#seed, faulty, time: () => this.#time.wallTime() ?? this.#time.now() });
	}
}

export class BoardLed extends EventEmitter {
	/** The pin level last written, and whether the LED is lit (after polarity). */
	level: 0 | 1 | undefined;
	pin: number | undefined;
	writes = 0;

	write(pin: number, level: 0 | 1): void {
		this.pin = pin;
		this.level = level;
		this.writes++;
		this.emit("write", level);
	}
}

export interface LogRecord {
	at: number;
	level: LogLevel;
	tag: string;
	message: string;
	fields?: Record<string, unknown> | undefined;
}

/** One log line format for every host: `LEVEL tag: message key=value ...`. */
export function formatLog(record: LogRecord): string {
	return formatLogLine(record.level, record.tag, record.message, record.fields);
}

export interface BoardOptions {
	time?: BoardTime;
	/** Log lines go here as they happen; default: keep them only. */
	print?: (line: string, record: LogRecord) => void;
	sensorSeed?: number;
	/** The most log records kept in memory. */
	logLimit?: number;
	/** Bytes a socket takes per turn of the event loop; default Moddable's lin 1,536. */
	socketBudget?: number;
	/** Where the board's flash (stored settings) lives; default: memory only. */
	flashFile?: string;
	/** The radio's MAC; default: simulatedMac(), one per board. */
	mac?: string;
	/** Serve a device port on that same port of 127.0.0.1 (npm start with http_port given); default: a free port. */
	exactPorts?: boolean;
}

export class Board {
	readonly time: BoardTime;
	readonly wifi: BoardWifi;
	readonly sensor: BoardSensor;
	readonly led = new BoardLed();
	readonly logs: LogRecord[] = [];
	readonly sockets = new Set<BoardSocket>();
	/**
	 * Where the simulated network delivers DNS queries: port 53 of each server,
	 * unless a test's responder listens on a free port instead.
	 */
	dnsPort = 53;
	/** Look-ups asked for. */
	lookups = 0;
	readonly flash: BoardFlash;
	readonly listeners = new Set<BoardListener>();
	readonly #print: ((line: string, record: LogRecord) => void) | undefined;
	readonly #logLimit: number;
	readonly socketBudget: number;
	readonly #exactPorts: boolean;

	constructor(options: BoardOptions = {}) {
		this.#exactPorts = options.exactPorts ?? false;
		this.socketBudget = options.socketBudget ?? linWriteBudget;
		this.time = options.time ?? new RealTime();
		this.wifi = new BoardWifi(this.time, options.mac ?? simulatedMac());
		this.sensor = new BoardSensor(this.time, options.sensorSeed);
		this.#print = options.print;
		this.#logLimit = options.logLimit ?? 10000;
		this.flash = new BoardFlash(options.flashFile);
	}

	/** Serves the device's `port` on a free loopback port (or the same port: exactPorts), printed once listening. */
	listen(port: number, onConnection: (connection: AcceptedConnection) => void): BoardListener {
		const listener = new BoardListener(port, this.#exactPorts ? port : 0, onConnection, (url) => this.log("info", "board", `device port ${port} is at ${url}`, { url }),
			(message) => this.log("error", "board", `cannot serve device port ${port} on 127.0.0.1:${port}: ${message}`));
		this.listeners.add(listener);
		return listener;
	}

	unlisten(listener: BoardListener): void {
		this.listeners.delete(listener);
		listener.close();
	}

	log(level: LogLevel, tag: string, message: string, fields?: Record<string, unknown>): void {
		const record: LogRecord = { at: this.time.now(), level, tag, message, fields };
		this.logs.push(record);
		if (this.logs.length > this.#logLimit) this.logs.splice(0, this.logs.length - this.#logLimit);
		this.#print?.(formatLog(record), record);
	}

	openSocket(options: OpenSocketOptions, events: SocketEvents): BoardSocket {
		const socket: BoardSocket = new BoardSocket(options, {
			onReadable: (bytes) => events.onReadable(bytes),
			onWritable: (count) => events.onWritable(count),
			onError: (message) => {
				this.sockets.delete(socket);
				events.onError(message);
			},
		}, this.socketBudget);
		this.sockets.add(socket);
		return socket;
	}

	closeSocket(socket: BoardSocket): void {
		this.sockets.delete(socket);
		socket.close();
	}

	/**
	 * Looks `name` up (A record) at `servers` only, never through the
	 * computer's own resolver: the tests exercise the configuration the
	 * device has. The callback runs once, later, with an address or a reason.
	 */
	resolve(name: string, servers: readonly string[], timeout: number, done: (address: string | undefined, reason?: string) => void): void {
		this.lookups++;
		const fail = (failure: DnsFailure, detail?: string): void => done(undefined, describeDnsFailure(failure, servers, timeout, detail));
		if (!servers.length) {
			setImmediate(() => fail("no-servers", "the simulated network has none of its own"));
			return;
		}
		const outside = servers.find((server) => !/^127\.\d+\.\d+\.\d+$/.test(server));
		if (outside) {
			setImmediate(() => done(undefined, `the simulated board reaches loopback only, not ${outside}`));
			return;
		}
		const resolver = new dns.Resolver({ timeout, tries: 1 });
		resolver.setServers(servers.map((server) => `${server}:${this.dnsPort}`));
		resolver.resolve4(name, (error, addresses) => {
			if (!error) return addresses[0] === undefined ? fail("nodata") : done(addresses[0]);
			switch (error.code) {
				case dns.NOTFOUND: return fail("nxdomain");
				case dns.NODATA: return fail("nodata");
				case dns.TIMEOUT: return fail("timeout");
				case dns.BADRESP: case dns.FORMERR: return fail("malformed", error.code);
				case dns.SERVFAIL: return fail("servfail", "RCODE 2");
				case dns.REFUSED: return fail("servfail", "RCODE 5");
				case dns.CONNREFUSED: return fail("unreachable", error.code);
				default: return fail("servfail", error.code);
			}
		});
	}

	/** Drops every connection at once, as a power cut would: no DISCONNECT, so the broker sends the will. */
	powerOff(): void {
		for (const socket of this.sockets) socket.destroy();
		this.sockets.clear();
		for (const listener of this.listeners) listener.close();
		this.listeners.clear();
	}
}
