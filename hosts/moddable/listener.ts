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
 * An accepted connection. A class, as the MQTT client's socket is
 * (host/socket): read, write and close are the prototype's, in flash, and
 * only the three callbacks the SDK's socket calls are made per connection.
 * A burst of connections (a browser opens several, an attacker dozens)
 * then costs the few slots each holds, not a dozen closures each.
 */
class AcceptedSocket implements Socket {
	readonly #socket: TCP;
	readonly #callbacks: SocketCallbacks;
	#failed = false;

	constructor(from: unknown, callbacks: SocketCallbacks) {
		this.#callbacks = callbacks;
		this.#socket = new TCP({
			from, format: "buffer", nodelay: true,
			onReadable: (bytes: number) => {
				if (!this.#failed) callbacks.onReadable(bytes);
			},
			onWritable: (bytes: number) => {
				if (!this.#failed) callbacks.onWritable(bytes);
			},
			onError: () => this.#fail("connection lost"),
		} as ConstructorParameters<typeof TCP>[0]);
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
		return writeFailed(() => this.#fail("connection reset by the peer: write failed"));
	}

	close(): void {
		this.#failed = true;
		closeSocket(this.#socket);
	}

	/** Reported once; the server then closes the socket, which is still its to close. */
	#fail(message: string): void {
		if (this.#failed) return;
		this.#failed = true;
		this.#callbacks.onError(message);
	}
}

export function listen(options: ListenOptions): HostListener {
	const listener: Listener = new Listener({
		port: options.port,
		onReadable(count: number): void {
			for (let i = 0; i < count; i++) {
				const from = listener.read();
				if (!from) return;
				// A throw here would abort XS: the server guards its own callbacks, this guards the accept.
				try {
					options.onConnection((callbacks: SocketCallbacks) => new AcceptedSocket(from, callbacks));
				} catch (error) {
					trace(`http: accept failed: ${(error as Error).message}\n`);
					(from as unknown as { close(): void }).close();
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
