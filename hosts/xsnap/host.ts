/*
 * The XS host simulator's host, inside the XS engine (module "host").
 *
 * Node (hosts/xsnap/node-side.ts) owns the simulated board. It sends each
 * event (boot, timer due, bytes arrived, Wi-Fi change) as a command with the
 * board's current time; the firmware runs to completion, and every effect it
 * had (writes, timers, LED, logs) goes back as the command's reply, in one
 * batch. Only a sensor sample needs an answer at once, so only it blocks on
 * `issueCommand`.
 */
import type {
	DigitalOutput, FirmwareHandle, Host, HostDiagnostics, ListenOptions, Listener, LogLevel, ResolveOptions, SensorOptions, Socket, SocketOptions, TemperatureSensor, TimerHandle, WifiEvent,
} from "platform";
import { seededRandom, type Random } from "backoff";
import { ReceivedBytes, TlsRecordBudget, WritableBudget } from "simulated/socket";
import { tlsRoom } from "net/tls-record";
import { repeatOnGrid } from "simulated/timers";

type Event =
	| { k: "boot" }
	| { k: "timer"; id: number }
	| { k: "accept"; listener: number; id: number }
	| { k: "readable"; id: number; data: string }
	| { k: "writable"; id: number; count: number }
	| { k: "error"; id: number; message: string }
	| { k: "resolved"; id: number; address: string | null; reason: string | null }
	| { k: "wifi"; event: WifiEvent }
	| { k: "shutdown" }
	| { k: "status" }
	| { k: "census" };

type Op = (string | number | boolean | null | object | undefined)[];

// A Moddable release build strips the __proto__ accessor, and XS aborts ("dead strip") when code
// reaches it: here it throws, so code that would reset a device fails loudly on this host too.
const deadStrip = (): never => {
	throw new Error("dead strip: Object.prototype.__proto__ is not in a release build");
};
Object.defineProperty(Object.prototype, "__proto__", { get: deadStrip, set: deadStrip, configurable: true, enumerable: false });

const encoder = new TextEncoder();
const decoder = new TextDecoder();

let now = 0;
let wall: number | undefined;
let ops: Op[] = [];
let nextId = 1;
const timers = new Map<number, () => void>();
const sockets = new Map<number, XsSocket>();
const lookups = new Map<number, ResolveOptions>();
const listeners = new Map<number, ListenOptions>();
let wifiListener: ((event: WifiEvent) => void) | undefined;
let firmware: FirmwareHandle | undefined;
let random: Random | undefined;

export function query(request: object): unknown {
	return JSON.parse(decoder.decode(issueCommand(encoder.encode(JSON.stringify(request)).buffer as ArrayBuffer)));
}

function toLatin1(view: Uint8Array): string {
	let text = "";
	for (let i = 0; i < view.length; i += 4096) {
		text += String.fromCharCode.apply(null, view.subarray(i, i + 4096) as unknown as number[]);
	}
	return text;
}

function fromLatin1(text: string): Uint8Array {
	const bytes = new Uint8Array(text.length);
	for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
	return bytes;
}

class XsSocket implements Socket {
	readonly id: number;
	readonly options: SocketOptions;
	readonly received = new ReceivedBytes();
	readonly budget: WritableBudget;
	/** A connection the board accepted, not one this opened. */
	readonly accepted: boolean;

	/** `accepted`: the id Node gave a connection the board accepted; otherwise this opens one. */
	constructor(options: SocketOptions, accepted?: number) {
		this.accepted = accepted !== undefined;
		this.id = accepted ?? nextId++;
		this.options = options;
		this.budget = options.tls ? new TlsRecordBudget() : new WritableBudget();
		sockets.set(this.id, this);
		if (accepted === undefined) ops.push(["open", this.id, options.address, options.port, options.tls ?? null]);
	}

	read(into: Uint8Array): number;
	read(count?: number): ArrayBuffer | undefined;
	read(...request: unknown[]): ArrayBuffer | number | undefined {
		return this.received.readWith(request);
	}

	/**
	 * As Moddable's sockets do: at most what the last onWritable announced,
	 * else "would block" and nothing taken. The board announces the budget
	 * again after each turn in which something was written.
	 */
	write(bytes: ArrayBufferLike | ArrayBufferView): number {
		const view = this.budget.take(bytes);
		ops.push(["write", this.id, toLatin1(view)]);
		// As hosts/moddable/socket does over Moddable's TLS socket: room for the next record's overhead.
		return this.options.tls ? tlsRoom(this.budget.left) : this.budget.left;
	}

	close(): void {
		if (sockets.delete(this.id)) ops.push(["close", this.id]);
	}
}

/** A one-shot timer on Node's side of the bridge; its id. */
function setTimer(callback: () => void, delay: number): number {
	const id = nextId++;
	timers.set(id, callback);
	ops.push(["timer", id, delay]);
	return id;
}

function dispatch(event: Event): void {
	switch (event.k) {
		case "timer": {
			const callback = timers.get(event.id);
			if (callback) {
				timers.delete(event.id);
				callback();
			}
			break;
		}
		case "accept": {
			const id = event.id;
			// The callbacks may be a class's methods (the web server's connections): called on it, not copied off it.
			listeners.get(event.listener)?.onConnection((callbacks) => new XsSocket({
				address: "", port: 0,
				onReadable: (count: number) => callbacks.onReadable(count),
				onWritable: (count: number) => callbacks.onWritable(count),
				onError: (message?: string) => callbacks.onError(message ?? "connection lost"),
			}, id));
			break;
		}
		case "readable": {
			const socket = sockets.get(event.id);
			if (socket) {
				const bytes = fromLatin1(event.data);
				socket.options.onReadable(socket.received.push(bytes));
			}
			break;
		}
		case "writable": {
			const socket = sockets.get(event.id);
			if (socket) {
				socket.budget.grant(event.count);
				socket.options.onWritable(socket.budget.left);
			}
			break;
		}
		case "error": {
			const socket = sockets.get(event.id);
			if (socket) {
				// An accepted socket stays open until its owner closes it, as on Moddable (lin/tcp.c, lwip/tcp.c).
				if (!socket.accepted) sockets.delete(event.id);
				socket.options.onError(event.message);
			}
			break;
		}
		case "resolved": {
			const lookup = lookups.get(event.id);
			if (lookup) {
				lookups.delete(event.id);
				if (event.address !== null) lookup.onResolved(lookup.host, event.address);
				else lookup.onError(lookup.host, event.reason ?? "failed");
			}
			break;
		}
		case "wifi":
			wifiListener?.(event.event);
			break;
		case "shutdown":
			firmware?.shutdown();
			break;
		case "status":
			ops.push(["status", firmware ? firmware.status() : null]);
			break;
		case "census":
			// After a full collection, so that the heap the reply reports is what is live.
			(globalThis as unknown as { gc?: () => void }).gc?.();
			ops.push(["census", { timers: timers.size, sockets: sockets.size, lookups: lookups.size }]);
			break;
		default:
			throw new Error(`unknown event ${JSON.stringify(event)}`);
	}
}

function flush(): ArrayBuffer {
	const reply = encoder.encode(JSON.stringify(ops)).buffer as ArrayBuffer;
	ops = [];
	return reply;
}

globalThis.handleCommand = (request: ArrayBuffer): ArrayBuffer | undefined => {
	const { event, time, wallTime } = JSON.parse(decoder.decode(request)) as { event: Event; time: number; wallTime: number | null };
	now = time;
	wall = wallTime ?? undefined;
	try {
		if (event.k === "boot") {
			// main is a module: its import finishes as a job, inside this crank.
			const pending: { result?: ArrayBuffer } = {};
			import("main").then(
				(main: { default: () => void }) => {
					main.default();
					pending.result = flush();
				},
				(error: Error) => {
					host.log("error", "host", `cannot load main: ${error.message}`);
					pending.result = flush();
				});
			return pending as unknown as ArrayBuffer;
		}
		dispatch(event);
	} catch (error) {
		// Firmware exceptions must not kill the simulated board: log them as the device's trace would.
		const e = error as Error;
		ops.push(["log", "error", "host", `uncaught exception: ${e.message}`, { stack: String(e.stack ?? "") }]);
	}
	return flush();
};

export const host: Host = {
	name: "xsnap",
	utf8: new TextDecoder("utf-8", { ignoreBOM: true }),
	utf8Encoder: new TextEncoder(),
	// xsnap's Math.random is never seeded: every run would back off identically. Node supplies a seed.
	random(): number {
		random ??= seededRandom((query({ q: "seed" }) as { seed: number }).seed);
		return random();
	},
	diagnostics: (): HostDiagnostics => query({ q: "diagnostics" }) as HostDiagnostics,
	clock: {
		now: () => now,
		wallTime: () => wall,
	},
	timers: {
		set(callback: () => void, delay: number): TimerHandle {
			return { id: setTimer(callback, delay) };
		},
		repeat(callback: () => void, interval: number): TimerHandle {
			return repeatOnGrid(setTimer, () => now, callback, interval);
		},
		clear(handle: TimerHandle | undefined): void {
			const id = (handle as { id: number } | undefined)?.id;
			if (id !== undefined && timers.delete(id)) ops.push(["clear", id]);
		},
	},
	log(level: LogLevel, tag: string, message: string, fields?: Record<string, unknown>): void {
		ops.push(["log", level, tag, message, fields]);
	},
	wifi: {
		connect(ssid: string, _password: string, onEvent: (event: WifiEvent) => void): void {
			wifiListener = onEvent;
			ops.push(["wifi.connect", ssid]);
		},
		disconnect(): void {
			ops.push(["wifi.disconnect"]);
		},
		mac: (): string | undefined => (query({ q: "mac" }) as { mac?: string }).mac,
	},
	resolve(options: ResolveOptions): void {
		const id = nextId++;
		lookups.set(id, options);
		ops.push(["resolve", id, options.host, options.servers, options.timeout]);
	},
	openSocket: (options: SocketOptions): Socket => new XsSocket(options),
	openSensor(options: SensorOptions): TemperatureSensor {
		return {
			sample(): { temperature: number } {
				const answer = query({ q: "sensor", options }) as { temperature?: number | null; humidity?: number | null; error?: string };
				if (answer.error !== undefined) throw new Error(answer.error);
				// JSON carries NaN as null.
				return { temperature: answer.temperature ?? NaN, ...(typeof answer.humidity === "number" ? { humidity: answer.humidity } : {}) };
			},
		};
	},
	openLed(pin: number): DigitalOutput {
		return {
			write(value: 0 | 1): void {
				ops.push(["led", pin, value]);
			},
		};
	},
	listen(options: ListenOptions): Listener {
		const id = nextId++;
		listeners.set(id, options);
		ops.push(["listen", id, options.port]);
		return {
			port: options.port,
			close(): void {
				if (listeners.delete(id)) ops.push(["unlisten", id]);
			},
		};
	},
	settings: {
		load: () => (query({ q: "flash" }) as { text: string | null }).text ?? undefined,
		save(text: string): void {
			ops.push(["flash.save", text]);
		},
		clear(): void {
			ops.push(["flash.clear"]);
		},
	},
	attach(handle: FirmwareHandle): void {
		firmware = handle;
	},
	exit(): void {
		ops.push(["exit"]);
	},
};

/** The contract main uses on every host: a host is made at start-up, not in a module's body. */
export function createHost(): Host {
	return host;
}
