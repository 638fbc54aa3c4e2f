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
 * `guard` for a callback that takes nothing it needs (a timer's): no rest
 * array is made on each call, which a repeating timer would leave as
 * garbage every time it fires.
 */
export function guardTimer(what: string, callback: () => void): () => void {
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
export function reader(socket: () => { read(request?: unknown): unknown }): Socket["read"] {
	return ((request?: number | Uint8Array) => {
		if (request === undefined) return socket().read() as ArrayBuffer | undefined;
		const result = socket().read(request);
		return typeof request === "object" ? (typeof result === "number" ? result : 0) : result as ArrayBuffer | undefined;
	}) as Socket["read"];
}

export function openSocket(options: SocketOptions): Socket {
	// What the socket takes now: the last onWritable count, less what was written since.
	let budget = 0;
	let failed = false;
	let socket: TCP | InstanceType<typeof TLSSocket>;
	// A callback that throws is the link failing: closed, reported once, and the client reconnects.
	const lost = (message: string): void => {
		if (failed) return;
		failed = true;
		try {
			socket.close();
		} catch {
			// Already torn down.
		}
		options.onError(message);
	};
	const common = {
		address: options.address, port: options.port, nodelay: true, format: "buffer" as const,
		// The two callbacks of every packet are guarded inline, one try per turn: `guard`'s
		// rest arguments would allocate an array and spread it on each call.
		onReadable: (count: number) => {
			try {
				if (!failed) options.onReadable(count);
			} catch (error) {
				failedIn("socket onReadable", error, lost);
			}
		},
		onWritable: (count: number) => {
			budget = count;
			try {
				if (!failed) options.onWritable(count);
			} catch (error) {
				failedIn("socket onWritable", error, lost);
			}
		},
	};
	const view = (secure: boolean): Socket => ({
		read: reader(() => socket),
		write: (bytes: ArrayBufferLike | ArrayBufferView) => {
			const left: unknown = socket.write(bytes as ArrayBuffer);
			if (typeof left !== "number") return writeFailed(() => lost(secure ? `TLS connection to ${tls!.serverName} lost: write failed` : "connection lost: write failed"));
			budget = left;
			// Each TLS write is a record with its own overhead: leave room for the next one's.
			return secure ? budget = tlsRoom(budget) : budget;
		},
		close: () => {
			failed = true;
			socket.close();
		},
	});
	const tls = options.tls;
	if (!tls) {
		socket = new TCP({
			...common,
			onError: guard("socket onError", () => lost("connection lost")),
		});
		return view(false);
	}
	socket = new TLSSocket({
		...common,
		host: tls.serverName,
		secure: tls.ca ? { certificate: pemToDer(tls.ca) } : {},
		TCP: { io: guardedTcp((message) => lost(`TLS handshake with ${tls.serverName} failed: ${message}`)) },
		// Moddable's TLS socket gives no reason for a lost link.
		onError: guard("socket onError", () => lost(`TLS connection to ${tls.serverName} lost`)),
	} as ConstructorParameters<typeof TLSSocket>[0]);
	return view(true);
}
