/*
 * The web page's listener on both Moddable SDK hosts: ECMA-419
 * `embedded:io/socket/listener`, each accepted connection an ECMA-419 TCP
 * socket built `from` it (as Moddable's examples/io/listener/httpserver
 * does). On lin the SDK binds every interface, whatever address is asked.
 */
import Listener from "embedded:io/socket/listener";
import TCP from "embedded:io/socket/tcp";
import type { ListenOptions, Listener as HostListener, Socket, SocketCallbacks } from "platform";
import { closeSocket, readFrom, writeFailed } from "host/socket";

/**
 * The SDK's socket of an accepted connection. The SDK calls a socket's
 * callbacks with the socket as `this` (tcp->obj in lin's and lwIP's
 * tcp.c), so the three are functions every connection shares, in flash
 * once preloaded, that find their connection here: a connection makes no
 * closure.
 */
class AcceptedTcp extends TCP {
	readonly owner: AcceptedSocket;

	constructor(from: unknown, owner: AcceptedSocket) {
		super({ from, format: "buffer", nodelay: true, onReadable: readable, onWritable: writable, onError: lost } as unknown as ConstructorParameters<typeof TCP>[0]);
		// Set before the event loop runs again, so before any callback.
		this.owner = owner;
	}
}

function readable(this: AcceptedTcp, bytes: number): void {
	this.owner.readable(bytes);
}

function writable(this: AcceptedTcp, bytes: number): void {
	this.owner.writable(bytes);
}

function lost(this: AcceptedTcp): void {
	this.owner.fail("connection lost");
}

/**
 * An accepted connection. A class, as the MQTT client's socket is
 * (host/socket): read, write and close are the prototype's, in flash, and
 * its socket's callbacks are shared functions, so a burst of connections
 * (a browser opens several, an attacker dozens) costs the few slots each
 * holds.
 */
class AcceptedSocket implements Socket {
	readonly #socket: AcceptedTcp;
	readonly #callbacks: SocketCallbacks;
	#failed = false;

	constructor(from: unknown, callbacks: SocketCallbacks) {
		this.#callbacks = callbacks;
		this.#socket = new AcceptedTcp(from, this);
	}

	read(into: Uint8Array): number;
	read(count?: number): ArrayBuffer | undefined;
	read(request?: number | Uint8Array): number | ArrayBuffer | undefined {
		return readFrom(this.#socket, request);
	}

	write(bytes: ArrayBufferLike | ArrayBufferView): number {
		const left: unknown = this.#socket.write(bytes as ArrayBuffer);
		// What the socket takes now; undefined when the write failed.
		if (typeof left === "number") return left;
		return writeFailed(() => this.fail("connection reset by the peer: write failed"));
	}

	close(): void {
		this.#failed = true;
		closeSocket(this.#socket);
	}

	readable(bytes: number): void {
		if (!this.#failed) this.#callbacks.onReadable(bytes);
	}

	writable(bytes: number): void {
		if (!this.#failed) this.#callbacks.onWritable(bytes);
	}

	/** Reported once; the server then closes the socket, which is still its to close. */
	fail(message: string): void {
		if (this.#failed) return;
		this.#failed = true;
		this.#callbacks.onError(message);
	}
}

export function listen(options: ListenOptions): HostListener {
	const listener: Listener = new Listener({
		port: options.port,
		// Every connection is taken as it comes, the count announced and no more (read() makes a TCP object even
		// with none pending): on lwIP one left pending has no error callback, so a reset would free it under the list.
		onReadable(count: number): void {
			for (let i = 0; i < count; i++) {
				const from = listener.read() as unknown as { close(): void } | undefined;
				if (!from) return;
				// A throw here would abort XS: the server guards its own callbacks, this guards the accept.
				try {
					// One the server will not keep is closed as it is: no socket, no callbacks made for it.
					if (options.admit && !options.admit()) from.close();
					else options.onConnection((callbacks: SocketCallbacks) => new AcceptedSocket(from, callbacks));
				} catch (error) {
					trace(`http: accept failed: ${(error as Error).message}\n`);
					from.close();
				}
			}
		},
	});
	return {
		get port(): number {
			return listener.port;
		},
		close: () => (listener as unknown as { close(): void }).close(),
	};
}
