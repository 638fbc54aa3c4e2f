/*
 * A FakeHost that can listen: test clients connect on the virtual clock,
 * with lin's writable budget (1,536 bytes, announced again a millisecond
 * after each write, as the event loop's next poll does), and a flash kept
 * in memory, so the web server's scenarios run on Node and inside XS.
 * As on Moddable, a socket whose peer went away (onError) still holds its
 * resources until the server closes it: `openSockets` counts those not yet
 * closed, and `closes` how often each was.
 */
import type { ListenOptions, Listener, Socket, SocketCallbacks, SettingsStorage } from "platform";
import { FakeHost, concat, text } from "test/lib/fake-host";
import { ReceivedBytes, linWriteBudget } from "simulated/socket";

export const writableBudget = linWriteBudget;

export class MemoryFlash implements SettingsStorage {
	text: string | undefined;
	saves = 0;
	load(): string | undefined {
		return this.text;
	}
	save(value: string): void {
		this.text = value;
		this.saves++;
	}
	clear(): void {
		this.text = undefined;
	}
}

export class FakeClient {
	readonly #host: WebHost;
	readonly #received: Uint8Array[] = [];
	#callbacks: SocketCallbacks | undefined;
	readonly #incoming = new ReceivedBytes();
	#budget = writableBudget;
	/** The server closed this connection. */
	closed = false;
	/** How often the server called close(): exactly once is right. */
	closes = 0;
	/** The client went away (reset): nothing more arrives from it. */
	gone = false;
	/** Bytes the server wrote past the budget it was given (on Moddable, a throw). */
	overruns = 0;
	/** The size of each read the server made, and the buffers it read into (a read without one makes a new buffer). */
	readonly reads: number[] = [];
	readonly readInto = new Set<ArrayBufferLike>();

	constructor(host: WebHost) {
		this.#host = host;
	}

	/** The server made this connection into its socket. */
	get accepted(): boolean {
		return this.#callbacks !== undefined;
	}

	accept(callbacks: SocketCallbacks): Socket {
		this.#callbacks = callbacks;
		this.#host.virtual.set(() => this.#callbacks?.onWritable(this.#budget), 0);
		return {
			read: ((...request: unknown[]) => {
				const into = request[0];
				if (typeof into === "object" && into !== null) this.readInto.add((into as Uint8Array).buffer);
				const result = this.#incoming.readWith(request);
				this.reads.push(typeof result === "number" ? result : result?.byteLength ?? 0);
				return result;
			}) as Socket["read"],
			write: (bytes: ArrayBufferLike | ArrayBufferView): number => {
				const view = ArrayBuffer.isView(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : new Uint8Array(bytes);
				if (view.length > this.#budget) this.overruns++;
				this.#budget -= view.length;
				this.#received.push(view.slice());
				this.#host.virtual.set(() => {
					this.#budget = writableBudget;
					if (!this.closed) this.#callbacks?.onWritable(this.#budget);
				}, 1);
				return this.#budget;
			},
			close: (): void => {
				this.closed = true;
				this.closes++;
			},
		};
	}

	/** Bytes sent and not yet read by the server. */
	get unread(): number {
		return this.#incoming.available;
	}

	send(data: string | Uint8Array): void {
		if (this.closed || this.gone) return;
		const bytes = typeof data === "string" ? Uint8Array.from(data, (c) => c.charCodeAt(0)) : data;
		const readable = this.#incoming.push(bytes.slice());
		this.#callbacks?.onReadable(readable);
	}

	/** The client goes away (a reset, or closed at its end): the server's socket reports an error, once, and stays the server's to close. */
	reset(): void {
		if (this.gone || this.closed) return;
		this.gone = true;
		this.#callbacks?.onError("connection reset");
	}

	/** Everything the server sent, as Latin-1 text. */
	get response(): string {
		return text(concat(this.#received));
	}

	get bytes(): Uint8Array {
		return concat(this.#received);
	}

	get status(): number {
		return Number(/^HTTP\/1\.1 (\d{3}) /.exec(this.response)?.[1] ?? 0);
	}

	/** The body parsed as JSON. */
	get json(): Record<string, unknown> {
		const response = this.response;
		return JSON.parse(response.slice(response.indexOf("\r\n\r\n") + 4)) as Record<string, unknown>;
	}

	header(name: string): string | undefined {
		const response = this.response;
		const head = response.slice(0, response.indexOf("\r\n\r\n"));
		const line = head.split("\r\n").find((candidate) => candidate.toLowerCase().startsWith(`${name.toLowerCase()}:`));
		return line?.slice(line.indexOf(":") + 1).trim();
	}
}

export class WebHost extends FakeHost {
	readonly settings = new MemoryFlash();
	listening: ListenOptions | undefined;
	listenerClosed = false;

	listen(options: ListenOptions): Listener {
		this.listening = options;
		return { port: options.port || 8080, close: () => void (this.listenerClosed = true) };
	}

	/** Every connection made, in order. */
	readonly clients: FakeClient[] = [];

	/** Sockets the server holds: accepted and not yet closed, whatever their peer did. */
	get openSockets(): number {
		let open = 0;
		for (const client of this.clients) if (!client.closed) open++;
		return open;
	}

	/** Throws from onConnection the listener caught, as Moddable's listener adapter does (a throw there would abort XS). */
	readonly acceptFailures: string[] = [];

	/**
	 * A new client connection; the server sees it at once. A throw from
	 * onConnection is caught as the Moddable listener does, which can close
	 * only a connection not yet made into a socket: one made stays open.
	 */
	connect(): FakeClient {
		const client = new FakeClient(this);
		this.clients.push(client);
		try {
			// As Moddable's listener adapter: one the server will not keep is closed as it comes, never made a socket.
			if (this.listening!.admit && !this.listening!.admit()) {
				client.closed = true;
				client.closes++;
				return client;
			}
			this.listening!.onConnection((callbacks) => client.accept(callbacks));
		} catch (error) {
			this.acceptFailures.push((error as Error).message);
			if (!client.accepted) client.closed = true;
		}
		return client;
	}

	/** One whole request, answered within `ms` of virtual time. */
	request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, ms = 20): FakeClient {
		const client = this.connect();
		const payload = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
		const all: Record<string, string> = { Host: "device", ...(body !== undefined ? { "Content-Type": "application/json" } : {}), ...headers };
		let head = `${method} ${path} HTTP/1.1\r\n`;
		for (const name of Object.keys(all)) head += `${name}: ${all[name]}\r\n`;
		head += `Content-Length: ${payload.length}\r\n\r\n`;
		client.send(head + payload);
		this.virtual.advance(ms);
		return client;
	}
}

/**
 * Runs each case as a release build would: Moddable's release builds strip
 * the `__proto__` accessor, and XS aborts ("dead strip") when code reaches
 * for it, so here it throws. Code that writes `obj[key]` with a client's key
 * on an ordinary object fails these cases as it would reset a device.
 */
export function withoutProtoAccessor(cases: Record<string, () => void>): Record<string, () => void> {
	const wrapped: Record<string, () => void> = {};
	for (const name of Object.keys(cases)) {
		wrapped[name] = () => {
			const original = Object.getOwnPropertyDescriptor(Object.prototype, "__proto__")!;
			const stripped = (): never => {
				throw new Error("dead strip: Object.prototype.__proto__ is not in a release build");
			};
			Object.defineProperty(Object.prototype, "__proto__", { get: stripped, set: stripped, configurable: true, enumerable: false });
			try {
				cases[name]!();
			} finally {
				Object.defineProperty(Object.prototype, "__proto__", original);
			}
		};
	}
	return wrapped;
}
