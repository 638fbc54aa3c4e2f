/*
 * The Node host: the firmware's portable modules run directly on Node
 * against the simulated board (hosts/simulated-board/board.ts). It is the fast
 * path for tests and debugging; the XS host simulator runs the same
 * modules on the real engine against the same board.
 */
import type { DigitalOutput, Host, ListenOptions, Listener, LogLevel, ResolveOptions, SensorOptions, Socket, SocketOptions, TemperatureSensor, TimerHandle, WifiEvent } from "platform";
import { Board, type BoardSocket } from "../simulated-board/board.js";
import { acceptedSocket } from "./accepted-socket.js";
import { ReceivedBytes, TlsRecordBudget, WritableBudget } from "simulated/socket";
import { tlsRoom } from "net/tls-record";
import { repeatOnGrid } from "simulated/timers";

interface NodeTimer {
	id: number;
}

/** An ECMA-419-shaped socket over the board's Node socket. */
class NodeSocket implements Socket {
	readonly #board: Board;
	readonly #socket: BoardSocket;
	readonly #received = new ReceivedBytes();
	readonly #budget: WritableBudget;
	readonly #secure: boolean;

	constructor(board: Board, options: SocketOptions) {
		this.#board = board;
		this.#secure = options.tls !== undefined;
		this.#budget = this.#secure ? new TlsRecordBudget() : new WritableBudget();
		this.#socket = board.openSocket(
			{ address: options.address, port: options.port, ...(options.tls ? { tls: options.tls } : {}) },
			{
				onReadable: (bytes) => {
					// Node reuses its read buffers; the firmware may keep a view.
					options.onReadable(this.#received.push(bytes.slice()));
				},
				onWritable: (count) => {
					this.#budget.grant(count);
					options.onWritable(this.#budget.left);
				},
				onError: (message) => options.onError(message),
			});
	}

	read(into: Uint8Array): number;
	read(count?: number): ArrayBuffer | undefined;
	read(...request: unknown[]): ArrayBuffer | number | undefined {
		return this.#received.readWith(request);
	}

	/** As Moddable's sockets do: at most what the last onWritable announced, else "would block". */
	write(bytes: ArrayBufferLike | ArrayBufferView): number {
		const view = this.#budget.take(bytes);
		// The firmware reuses its scratch buffer: copy, as ECMA-419 sockets do.
		this.#socket.write(view.slice());
		// As hosts/moddable/socket does over Moddable's TLS socket: room for the next record's overhead.
		return this.#secure ? tlsRoom(this.#budget.left) : this.#budget.left;
	}

	close(): void {
		this.#board.closeSocket(this.#socket);
	}
}

export function createNodeHost(board: Board, name = "node"): Host {
	return {
		name,
		utf8: new TextDecoder("utf-8", { ignoreBOM: true }),
		utf8Encoder: new TextEncoder(),
		// The simulated board sits on loopback.
		diagnostics: () => ({ ip: "127.0.0.1" }),
		clock: {
			now: () => board.time.now(),
			wallTime: () => board.time.wallTime(),
		},
		timers: {
			set(callback: () => void, delay: number): TimerHandle {
				return { id: board.time.set(callback, delay) } satisfies NodeTimer;
			},
			repeat(callback: () => void, interval: number): TimerHandle {
				return repeatOnGrid((fire, delay) => board.time.set(fire, delay), () => board.time.now(), callback, interval) satisfies NodeTimer;
			},
			clear(handle: TimerHandle | undefined): void {
				if (handle) board.time.clear((handle as NodeTimer).id);
			},
		},
		log: (level: LogLevel, tag: string, message: string, fields?: Record<string, unknown>) => board.log(level, tag, message, fields),
		wifi: {
			connect: (ssid: string, _password: string, onEvent: (event: WifiEvent) => void) => board.wifi.connect(ssid, onEvent),
			disconnect: () => board.wifi.disconnect(),
			mac: () => board.wifi.mac,
		},
		resolve: (options: ResolveOptions): void => board.resolve(options.host, options.servers, options.timeout, (address, reason) => {
			if (address !== undefined) options.onResolved(options.host, address);
			else options.onError(options.host, reason ?? "failed");
		}),
		openSocket: (options: SocketOptions): Socket => new NodeSocket(board, options),
		openSensor(options: SensorOptions): TemperatureSensor {
			board.sensor.options = options;
			return { sample: () => board.sensor.sample() };
		},
		openLed(pin: number): DigitalOutput {
			return { write: (value: 0 | 1) => board.led.write(pin, value) };
		},
		listen(options: ListenOptions): Listener {
			const listener = board.listen(options.port, (connection) => options.onConnection((callbacks) => acceptedSocket(connection, callbacks)));
			return { port: listener.port, close: () => board.unlisten(listener) };
		},
		settings: board.flash,
	};
}
