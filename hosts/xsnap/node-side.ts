/*
 * The XS host simulator, Node side: runs the firmware's own modules on the
 * real XS engine (build/xsnap, loaded by manifest name) against the
 * simulated board of hosts/simulated-board/board.ts.
 *
 * Every board event becomes one command to the engine; the firmware's
 * effects come back as the command's reply and are applied to the board
 * (see hosts/xsnap/host.ts for the other half).
 */
import { randomInt } from "node:crypto";
import type { SensorOptions } from "platform";
import { Board, type BoardSocket } from "../simulated-board/board.js";
import type { AcceptedConnection, BoardListener } from "../simulated-board/listener.js";
import { XsWorker, type Meter } from "./worker.js";
import { xsModuleRoot } from "./paths.js";


type Op = [string, ...unknown[]];

export interface XsSimulatorOptions {
	board: Board;
	/** What mc/config holds: manifest defaults overridden by flat strings. */
	config: Record<string, string | number | boolean>;
	moduleRoot?: string;
	/** Seed of the firmware's backoff jitter; default: a fresh random one per run. */
	seed?: number;
}

/** What the engine spent, summed over every command since start. */
export interface XsUsage {
	commands: number;
	compute: number;
	/** The latest readings. */
	heapSlots: number;
	allocatedBytes: number;
}

export class XsSimulator {
	readonly board: Board;
	readonly worker: XsWorker;
	readonly usage: XsUsage = { commands: 0, compute: 0, heapSlots: 0, allocatedBytes: 0 };
	readonly #config: Record<string, string | number | boolean>;
	readonly #seed: number;
	readonly #timers = new Map<number, number>();
	readonly #sockets = new Map<number, BoardSocket>();
	readonly #accepted = new Map<number, AcceptedConnection>();
	readonly #listeners = new Map<number, BoardListener>();
	/** Ids for accepted connections, apart from the ones the engine gives the sockets it opens. */
	#nextAccepted = 1_000_000;
	#chain: Promise<void> = Promise.resolve();
	#inFlight = 0;
	#status: unknown;
	#census: unknown;
	#exited = false;
	#failure: Error | undefined;

	private constructor(options: XsSimulatorOptions) {
		this.board = options.board;
		this.#config = options.config;
		this.#seed = options.seed ?? randomInt(0x7fffffff);
		this.worker = new XsWorker({
			moduleRoot: options.moduleRoot ?? xsModuleRoot,
			onQuery: (request) => this.#answer(request),
			onPrint: (line) => this.board.log("debug", "xs", line),
		});
	}

	/** Starts the engine and runs the firmware's `main`. */
	static async start(options: XsSimulatorOptions): Promise<XsSimulator> {
		const simulator = new XsSimulator(options);
		await simulator.worker.runModule("host");
		await simulator.send({ k: "boot" });
		return simulator;
	}

	/** True once the firmware called `host.exit()` after an orderly shutdown. */
	get exited(): boolean {
		return this.#exited;
	}

	/** Sends one event; events are delivered one at a time, in order. */
	send(event: object): Promise<void> {
		this.#inFlight++;
		const run = this.#chain.then(async () => {
			const reply = await this.worker.command(new TextEncoder().encode(JSON.stringify({
				event, time: this.board.time.now(), wallTime: this.board.time.wallTime() ?? null,
			})));
			this.#meter(reply.meter);
			this.#apply(JSON.parse(new TextDecoder().decode(reply.bytes)) as Op[]);
		}).catch((error: Error) => {
			this.#failure ??= error;
			this.board.log("error", "xs", `engine failure: ${error.message}`);
		}).finally(() => {
			this.#inFlight--;
		});
		this.#chain = run;
		return run;
	}

	/** Events sent and not yet handled by the engine. */
	get queued(): number {
		return this.#inFlight;
	}

	/** Resolves once every queued event has been handled. */
	async idle(): Promise<void> {
		while (this.#inFlight > 0) await this.#chain;
		if (this.#failure) throw this.#failure;
	}

	/**
	 * What the engine holds after a full garbage collection: heap slots and
	 * the firmware's armed timers and open sockets. A soak watches these.
	 */
	async census(): Promise<{ heapSlots: number; allocatedBytes: number; timers: number; sockets: number }> {
		await this.send({ k: "census" });
		const counts = this.#census as { timers: number; sockets: number };
		return { heapSlots: this.usage.heapSlots, allocatedBytes: this.usage.allocatedBytes, ...counts };
	}

	async status(): Promise<Record<string, unknown> | null> {
		await this.send({ k: "status" });
		return this.#status as Record<string, unknown> | null;
	}

	/** Asks the firmware for an orderly shutdown (publishes `offline`). */
	async shutdown(): Promise<void> {
		await this.send({ k: "shutdown" });
	}

	async close(): Promise<void> {
		for (const id of this.#timers.values()) this.board.time.clear(id);
		this.#timers.clear();
		for (const socket of this.#sockets.values()) this.board.closeSocket(socket);
		this.#sockets.clear();
		for (const listener of this.#listeners.values()) this.board.unlisten(listener);
		this.#listeners.clear();
		for (const connection of this.#accepted.values()) connection.close(true);
		this.#accepted.clear();
		await this.worker.close();
	}

	#meter(meter: Meter): void {
		this.usage.commands++;
		this.usage.compute += meter.compute;
		this.usage.heapSlots = meter.currentHeapCount;
		this.usage.allocatedBytes = meter.allocate;
	}

	#answer(request: Uint8Array): Uint8Array {
		const query = JSON.parse(new TextDecoder().decode(request)) as { q: string; options?: unknown };
		let answer: unknown;
		if (query.q === "config") {
			answer = this.#config;
		} else if (query.q === "flash") {
			answer = { text: this.board.flash.load() ?? null };
		} else if (query.q === "mac") {
			answer = { mac: this.board.wifi.mac };
		} else if (query.q === "seed") {
			answer = { seed: this.#seed };
		} else if (query.q === "diagnostics") {
			// The simulated board is on loopback; the engine's heap is in the meters, not in the firmware's reach.
			answer = { ip: "127.0.0.1" };
		} else if (query.q === "sensor") {
			this.board.sensor.options = query.options as SensorOptions;
			try {
				answer = this.board.sensor.sample();
			} catch (error) {
				answer = { error: (error as Error).message };
			}
		} else {
			answer = { error: `unknown query ${query.q}` };
		}
		return new TextEncoder().encode(JSON.stringify(answer));
	}

	#listen(listenerId: number, port: number): void {
		this.#listeners.set(listenerId, this.board.listen(port, (connection) => {
			const id = this.#nextAccepted++;
			this.#accepted.set(id, connection);
			void this.send({ k: "accept", listener: listenerId, id });
			connection.attach({
				onReadable: (bytes) => void this.send({ k: "readable", id, data: Buffer.from(bytes).toString("latin1") }),
				onWritable: (count) => void this.send({ k: "writable", id, count }),
				// Still the firmware's to close, as on Moddable: it stays in #accepted until its "close".
				onError: (message) => void this.send({ k: "error", id, message }),
			});
		}));
	}

	/** A write past the announced budget is the firmware's bug: logged as the device would fail, not thrown here. */
	#writeAccepted(id: number, data: string): void {
		try {
			this.#accepted.get(id)?.write(Buffer.from(data, "latin1"));
		} catch (error) {
			this.board.log("error", "xs", `socket ${id}: ${(error as Error).message}`);
		}
	}

	#apply(ops: Op[]): void {
		for (const op of ops) {
			switch (op[0]) {
				case "timer": {
					const [, id, delay] = op as [string, number, number];
					this.#timers.set(id, this.board.time.set(() => {
						this.#timers.delete(id);
						void this.send({ k: "timer", id });
					}, delay));
					break;
				}
				case "clear": {
					const id = op[1] as number;
					const boardId = this.#timers.get(id);
					if (boardId !== undefined) this.board.time.clear(boardId);
					this.#timers.delete(id);
					break;
				}
				case "open": {
					const [, id, address, port, tls] = op as [string, number, string, number, { serverName: string; ca?: string } | null];
					try {
						this.#sockets.set(id, this.board.openSocket({ address, port, ...(tls ? { tls } : {}) }, {
							onReadable: (bytes) => void this.send({ k: "readable", id, data: Buffer.from(bytes).toString("latin1") }),
							onWritable: (count) => void this.send({ k: "writable", id, count }),
							onError: (message) => {
								this.#sockets.delete(id);
								void this.send({ k: "error", id, message });
							},
						}));
					} catch (error) {
						void this.send({ k: "error", id, message: (error as Error).message });
					}
					break;
				}
				case "resolve": {
					const [, id, name, servers, timeout] = op as [string, number, string, string[], number];
					this.board.resolve(name, servers, timeout, (address, reason) => void this.send({ k: "resolved", id, address: address ?? null, reason: reason ?? null }));
					break;
				}
				case "write":
					this.#sockets.get(op[1] as number)?.write(Buffer.from(op[2] as string, "latin1"));
					this.#writeAccepted(op[1] as number, op[2] as string);
					break;
				case "close": {
					const socket = this.#sockets.get(op[1] as number);
					if (socket) this.board.closeSocket(socket);
					this.#sockets.delete(op[1] as number);
					this.#accepted.get(op[1] as number)?.close();
					this.#accepted.delete(op[1] as number);
					break;
				}
				case "listen":
					this.#listen(op[1] as number, op[2] as number);
					break;
				case "unlisten": {
					const listener = this.#listeners.get(op[1] as number);
					if (listener) this.board.unlisten(listener);
					this.#listeners.delete(op[1] as number);
					break;
				}
				case "flash.save":
					this.board.flash.save(op[1] as string);
					break;
				case "flash.clear":
					this.board.flash.clear();
					break;
				case "wifi.connect":
					this.board.wifi.connect(op[1] as string, (event) => void this.send({ k: "wifi", event }));
					break;
				case "wifi.disconnect":
					this.board.wifi.disconnect();
					break;
				case "led":
					this.board.led.write(op[1] as number, op[2] as 0 | 1);
					break;
				case "log":
					this.board.log(op[1] as "info", op[2] as string, op[3] as string, op[4] as Record<string, unknown> | undefined);
					break;
				case "status":
					this.#status = op[1];
					break;
				case "census":
					this.#census = op[1];
					break;
				case "exit":
					this.#exited = true;
					break;
				default:
					this.board.log("error", "xs", `unknown effect ${String(op[0])}`);
			}
		}
	}
}
