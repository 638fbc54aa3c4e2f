/*
 * An ECMA-419-shaped socket over a connection the board accepted: bytes
 * wait in arrival order until the firmware reads them.
 */
import type { Socket, SocketCallbacks } from "platform";
import type { AcceptedConnection } from "../simulated-board/listener.js";
import { ReceivedBytes } from "simulated/socket";

export function acceptedSocket(connection: AcceptedConnection, callbacks: SocketCallbacks): Socket {
	const received = new ReceivedBytes();
	connection.attach({
		onReadable: (bytes) => {
			callbacks.onReadable(received.push(bytes));
		},
		onWritable: (count) => callbacks.onWritable(count),
		onError: (message) => callbacks.onError(message),
	});
	return {
		read: ((...request: unknown[]) => received.readWith(request)) as Socket["read"],
		write(bytes: ArrayBufferLike | ArrayBufferView): number {
			const view = ArrayBuffer.isView(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : new Uint8Array(bytes);
			return connection.write(view.slice());
		},
		close: () => connection.close(),
	};
}
