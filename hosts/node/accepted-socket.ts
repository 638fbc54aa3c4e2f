/*
 * An ECMA-419-shaped socket over a connection the board accepted: bytes
 * wait in arrival order until the firmware reads them.
 */
import type { Socket, SocketCallbacks } from "platform";
import type { AcceptedConnection } from "./listener.js";

export function acceptedSocket(connection: AcceptedConnection, callbacks: SocketCallbacks): Socket {
	let pending: Uint8Array[] = [];
	connection.attach({
		onReadable: (bytes) => {
			pending.push(bytes);
			callbacks.onReadable(bytes.length);
		},
		onWritable: (count) => callbacks.onWritable(count),
		onError: (message) => callbacks.onError(message),
	});
	return {
		read(count?: number): ArrayBuffer | undefined {
			if (!pending.length) return undefined;
			const all = pending.length === 1 ? pending[0]! : Uint8Array.from(pending.flatMap((chunk) => [...chunk]));
			const take = Math.min(count ?? all.length, all.length);
			pending = take < all.length ? [all.slice(take)] : [];
			return all.slice(0, take).buffer;
		},
		write(bytes: ArrayBufferLike | ArrayBufferView): number {
			const view = ArrayBuffer.isView(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : new Uint8Array(bytes);
			return connection.write(view.slice());
		},
		close: () => connection.close(),
	};
}
