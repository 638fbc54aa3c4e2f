/*
 * The web page's listener on both Moddable SDK hosts: ECMA-419
 * `embedded:io/socket/listener`, each accepted connection an ECMA-419 TCP
 * socket built `from` it (as Moddable's examples/io/listener/httpserver
 * does). On lin the SDK binds every interface, whatever address is asked.
 */
import Listener from "embedded:io/socket/listener";
import TCP from "embedded:io/socket/tcp";
import type { ListenOptions, Listener as HostListener, SocketCallbacks } from "platform";
import { closeSocket, reader, writeFailed } from "host/socket";

export function listen(options: ListenOptions): HostListener {
	const listener: Listener = new Listener({
		port: options.port,
		onReadable(count: number): void {
			for (let i = 0; i < count; i++) {
				const from = listener.read();
				if (!from) return;
				// A throw here would abort XS: the server guards its own callbacks, this guards the accept.
				try {
					options.onConnection((callbacks: SocketCallbacks) => {
						let failed = false;
						// Inside one of the socket's callbacks: it is closed only after them (closeSocket).
						let reporting = false;
						const fail = (message: string): void => {
							if (failed) return;
							failed = true;
							callbacks.onError(message);
						};
						const socket = new TCP({
							from, format: "buffer", nodelay: true,
							onReadable: (bytes: number) => {
								if (failed) return;
								reporting = true;
								callbacks.onReadable(bytes);
								reporting = false;
							},
							onWritable: (bytes: number) => {
								if (failed) return;
								reporting = true;
								callbacks.onWritable(bytes);
								reporting = false;
							},
							onError: () => {
								reporting = true;
								fail("connection lost");
								reporting = false;
							},
						});
						return {
							read: reader(() => socket),
							write: (bytes: ArrayBufferLike | ArrayBufferView): number => {
								const left: unknown = socket.write(bytes as ArrayBuffer);
								// What the socket takes now; undefined when the write failed.
								if (typeof left === "number") return left;
								return writeFailed(() => fail("connection reset by the peer: write failed"));
							},
							close: () => {
								failed = true;
								closeSocket(socket, reporting);
							},
						};
					});
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
