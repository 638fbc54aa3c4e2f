/*
 * The socket both Moddable SDK hosts (the ESP32 and the desktop simulator)
 * give the MQTT client: ECMA-419 TCP, or Moddable's ECMA-419 TLS socket
 * over it. The server certificate is verified against mqtt_tls_ca when it
 * is set, else against the CA certificates built into the app, and its
 * name against mqtt_tls_server_name.
 *
 * It also holds the one guard every Moddable host callback goes through:
 * an exception thrown into the runtime from a socket, timer or Wi-Fi
 * callback aborts XS, which on a device is a reset.
 */
import TCP from "embedded:io/socket/tcp";
import Timer from "timer";
import TLSSocket from "embedded:io/socket/tcp/tls";
import type { Socket, SocketOptions } from "platform";
import { pemCertificate } from "config";
import { formatLogLine } from "log";
import { tlsRoom } from "net/tls-record";

/**
 * Runs a callback the runtime calls, catching what it throws: the message
 * is logged and handed to `onFailure` (a socket treats it as the link
 * failing, so the client reconnects with backoff), never thrown into XS.
 */
export function guard<A extends unknown[]>(what: string, callback: (...args: A) => void, onFailure?: (message: string) => void): (...args: A) => void {
	return (...args: A) => {
		try {
			callback(...args);
		} catch (error) {
			failedIn(what, error, onFailure);
		}
	};
}

/**
 * `guard` for a callback that needs none of its arguments (a timer's, a
 * socket's onError): no rest array is made on each call, which a
 * repeating timer would leave as garbage every time it fires.
 */
export function guardNoArguments(what: string, callback: () => void): () => void {
	return () => {
		try {
			callback();
		} catch (error) {
			failedIn(what, error);
		}
	};
}

/** What `guard` does with an exception: logs it and hands its message to `onFailure`, never throwing. */
function failedIn(what: string, error: unknown, onFailure?: (message: string) => void): void {
	const message = (error as Error)?.message ?? String(error);
	trace(formatLogLine("error", "host", `${what} threw: ${message}`) + "\n");
	try {
		onFailure?.(message);
	} catch {
		// The failure handler failed too: nothing more can be done from here.
	}
}

/**
 * A write the SDK could not make (the peer reset the connection): it returns
 * undefined, sets the socket's error and, on lin, never reports onError (its
 * poll stops once the error is set; lwIP reports it). So the socket has
 * failed: no budget is left, and `report` runs once the callback that wrote
 * has returned, guarded, never re-entering its caller. Returns that budget, 0.
 */
export function writeFailed(report: () => void): number {
	Promise.resolve().then(guard("socket write failed", report));
	return 0;
}

/**
 * Closes an SDK socket on the next timer turn, after whatever of its
 * callbacks may be running: lin's tcp.c (reportTrigger) goes on to call the
 * socket's other callbacks after one of them closed it, and close() has
 * stopped the collector marking them (xs_tcp_mark runs off the host data
 * that close clears): a collection in between, and XS calls a freed
 * function, "call: not a function", an abort. lwIP checks the socket is
 * still open first. Always deferred, so no callback need note that it is
 * running; the adapters ignore what the socket reports meanwhile.
 */
export function closeSocket(socket: { close(): void }): void {
	Timer.set(guardNoArguments("socket close", () => socket.close()), 0);
}

/** The first PEM certificate as DER, which Moddable's TLS takes. */
export function pemToDer(pem: string): ArrayBuffer {
	const match = pemCertificate(pem);
	if (!match) throw new Error("mqtt_tls_ca holds no PEM certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----)");
	// ES2026 base64, built into XS; the "base64" module is deprecated.
	const der = (Uint8Array as unknown as { fromBase64(text: string): Uint8Array }).fromBase64(match[1]!.replace(/\s+/g, ""));
	return (der.buffer as ArrayBuffer).slice(der.byteOffset, der.byteOffset + der.byteLength);
}

type Callback = ((...args: any[]) => void) | undefined;

/**
 * Moddable's TLS socket runs its handshake inside the TCP socket's
 * callbacks and throws there on a bad certificate or name: nothing of ours
 * is on the stack, and XS aborts with "unhandled exception" (a reset on a
 * device). It accepts the TCP class to use, so it gets one whose callbacks
 * turn such an exception into `onFailure`.
 */
function guardedTcp(onFailure: (message: string) => void): typeof TCP {
	const wrap = (name: string, callback: Callback): Callback => callback && guard(`TLS handshake ${name}`, callback, onFailure);
	return class GuardedTCP extends TCP {
		constructor(options: ConstructorParameters<typeof TCP>[0]) {
			const callbacks = options as unknown as Record<string, Callback>;
			super({ ...options, onReadable: wrap("onReadable", callbacks.onReadable), onWritable: wrap("onWritable", callbacks.onWritable), onError: wrap("onError", callbacks.onError) } as ConstructorParameters<typeof TCP>[0]);
		}
	};
}

/**
 * `read` over Moddable's TCP or TLS socket. Into a buffer, TCP answers the
 * buffer's length and TLS what it read (and both nothing when nothing came):
 * the count, 0 for nothing. No argument must reach it as none: TCP reads an
 * undefined count as 0 and throws "invalid".
 */
export function readFrom(socket: { read(request?: unknown): unknown }, request?: number | Uint8Array): number | ArrayBuffer | undefined {
	if (request === undefined) return socket.read() as ArrayBuffer | undefined;
	const result = socket.read(request);
	return typeof request === "object" ? (typeof result === "number" ? result : 0) : result as ArrayBuffer | undefined;
}

/**
 * The client's socket over Moddable's. A class, so that read, write and
 * close are the prototype's, not closures made for every connection: only
 * the three callbacks the SDK's socket calls are.
 */
class BoardSocket {
	#socket: TCP | InstanceType<typeof TLSSocket>;
	#failed = false;
	readonly #onError: (message: string) => void;
	/** The TLS server's name; undefined over plain TCP. */
	readonly #serverName: string | undefined;

	constructor(options: SocketOptions) {
		const { onReadable, onWritable, onError, tls } = options;
		this.#onError = onError;
		this.#serverName = tls?.serverName;
		const common = {
			address: options.address, port: options.port, nodelay: true, format: "buffer" as const,
			// The two callbacks of every packet are guarded inline, one try per turn: `guard`'s
			// rest arguments would allocate an array and spread it on each call.
			onReadable: (count: number) => {
				try {
					if (!this.#failed) onReadable(count);
				} catch (error) {
					failedIn("socket onReadable", error, (message) => this.#lost(message));
				}
			},
			onWritable: (count: number) => {
				try {
					if (!this.#failed) onWritable(count);
				} catch (error) {
					failedIn("socket onWritable", error, (message) => this.#lost(message));
				}
			},
		};
		if (!tls) {
			this.#socket = new TCP({ ...common, onError: guardNoArguments("socket onError", () => this.#lost("connection lost")) });
			return;
		}
		this.#socket = new TLSSocket({
			...common,
			host: tls.serverName,
			secure: tls.ca ? { certificate: pemToDer(tls.ca) } : {},
			// The handshake fails inside the TCP socket's callbacks.
			TCP: { io: guardedTcp((message) => this.#lost(`TLS handshake with ${tls.serverName} failed: ${message}`)) },
			// Moddable's TLS socket gives no reason for a lost link.
			onError: guardNoArguments("socket onError", () => this.#lost(`TLS connection to ${tls.serverName} lost`)),
		} as ConstructorParameters<typeof TLSSocket>[0]);
	}

	// readFrom, inlined: the MQTT client reads every packet here, and the call costs 12 units a read on XS 17.7.
	read(request?: number | Uint8Array): number | ArrayBuffer | undefined {
		const socket = this.#socket as { read(request?: unknown): unknown };
		if (request === undefined) return socket.read() as ArrayBuffer | undefined;
		const result = socket.read(request);
		return typeof request === "object" ? (typeof result === "number" ? result : 0) : result as ArrayBuffer | undefined;
	}

	write(bytes: ArrayBufferLike | ArrayBufferView): number {
		const left: unknown = this.#socket.write(bytes as ArrayBuffer);
		if (typeof left !== "number") {
			const serverName = this.#serverName;
			return writeFailed(() => this.#lost(serverName !== undefined ? `TLS connection to ${serverName} lost: write failed` : "connection lost: write failed"));
		}
		// Each TLS write is a record with its own overhead: leave room for the next one's.
		return this.#serverName !== undefined ? tlsRoom(left) : left;
	}

	/**
	 * Closed after the callbacks that may be running (closeSocket): once a
	 * connection, so the packets' callbacks need not note when they run.
	 */
	close(): void {
		this.#failed = true;
		closeSocket(this.#socket);
	}

	/** A callback that threw is the link failing: closed, reported once, and the client reconnects. */
	#lost(message: string): void {
		if (this.#failed) return;
		this.#failed = true;
		closeSocket(this.#socket);
		this.#onError(message);
	}
}

export function openSocket(options: SocketOptions): Socket {
	return new BoardSocket(options) as Socket;
}
