/*
 * The socket both Moddable SDK hosts (the ESP32 and the desktop simulator)
 * give the MQTT client: ECMA-419 TCP, or Moddable's ECMA-419 TLS socket
 * over it. The server certificate is verified against mqtt_tls_ca when it
 * is set, else against the CA certificates built into the app, and its
 * name against mqtt_tls_server_name.
 */
import TCP from "embedded:io/socket/tcp";
import TLSSocket from "embedded:io/socket/tcp/tls";
import type { Socket, SocketOptions } from "platform";
import { pemPattern } from "config";

/** The first PEM certificate as DER, which Moddable's TLS takes. */
export function pemToDer(pem: string): ArrayBuffer {
	const match = pemPattern.exec(pem);
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
	const guard = (callback: Callback): Callback => callback && ((...args: any[]) => {
		try {
			callback(...args);
		} catch (error) {
			onFailure((error as Error)?.message ?? String(error));
		}
	});
	return class GuardedTCP extends TCP {
		constructor(options: ConstructorParameters<typeof TCP>[0]) {
			const callbacks = options as unknown as Record<string, Callback>;
			super({ ...options, onReadable: guard(callbacks.onReadable), onWritable: guard(callbacks.onWritable), onError: guard(callbacks.onError) } as ConstructorParameters<typeof TCP>[0]);
		}
	};
}

export function openSocket(options: SocketOptions): Socket {
	const common = {
		address: options.address, port: options.port, nodelay: true, format: "buffer" as const,
		onReadable: (count: number) => options.onReadable(count),
		onWritable: (count: number) => options.onWritable(count),
	};
	const tls = options.tls;
	if (!tls) {
		const socket = new TCP({
			...common,
			onError: () => options.onError("connection lost"),
		});
		return asSocket(socket, () => socket.close());
	}
	let failed = false;
	const fail = (message: string): void => {
		if (failed) return;
		failed = true;
		try {
			socket.close();
		} catch {
			// Already torn down by the failure itself.
		}
		options.onError(message);
	};
	const socket = new TLSSocket({
		...common,
		host: tls.serverName,
		secure: tls.ca ? { certificate: pemToDer(tls.ca) } : {},
		TCP: { io: guardedTcp((message) => fail(`TLS handshake with ${tls.serverName} failed: ${message}`)) },
		// Moddable's TLS socket gives no reason for a lost link.
		onError: () => fail(`TLS connection to ${tls.serverName} lost`),
	} as ConstructorParameters<typeof TLSSocket>[0]);
	return asSocket(socket, () => {
		failed = true;
		socket.close();
	});
}

/** The client's view of an ECMA-419 socket, TCP or TLS. */
function asSocket(socket: { read(count: number): unknown; write(bytes: ArrayBuffer): unknown }, close: () => void): Socket {
	return {
		read: (count?: number) => socket.read(count as number) as ArrayBuffer | undefined,
		write: (bytes: ArrayBufferLike | ArrayBufferView) => void socket.write(bytes as ArrayBuffer),
		close,
	};
}
