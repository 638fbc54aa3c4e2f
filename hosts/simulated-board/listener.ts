/*
 * The simulated board's listening sockets. A device serves on its own port
 * (80); the board forwards it from a free loopback port of the computer, as
 * a NAT would, so that any number of simulated boards and test runs can
 * serve at once. Accepted connections keep lin's writable budget: 1,536
 * bytes announced, and announced again once the bytes have left, so a
 * server that writes past it fails here as it would in mcsim. As on
 * Moddable (modules/io/socket/lin/tcp.c, lwip/tcp.c), a connection whose
 * peer went away reports onError once and still holds its resources until
 * its owner calls close(): `open` counts those, so a server that forgets to
 * close one is seen to leak here as it would on a board.
 */
import net from "node:net";
import { WritableBudget, linWriteBudget } from "simulated/socket";
import { endSocket, resetSocket } from "./connection-end.js";

export interface AcceptedEvents {
	onReadable(bytes: Uint8Array): void;
	onWritable(count: number): void;
	onError(message: string): void;
}

export class AcceptedConnection {
	readonly #socket: net.Socket;
	#events: AcceptedEvents | undefined;
	readonly #budget = new WritableBudget();
	/** The peer went away or the owner closed it: no more events. */
	#closed = false;
	/** The owner called close(): its one end of life. */
	#released = false;
	readonly #onRelease: () => void;

	constructor(socket: net.Socket, onRelease: () => void = () => {}) {
		this.#socket = socket;
		this.#onRelease = onRelease;
		this.#budget.grant(linWriteBudget);
		socket.setNoDelay(true);
		socket.on("error", () => {});
		socket.on("close", () => this.#fail("connection closed by peer"));
	}

	/** Starts delivering events; the first announces the writable budget. */
	attach(events: AcceptedEvents): void {
		this.#events = events;
		this.#socket.on("data", (data: Buffer) => {
			if (!this.#closed) events.onReadable(new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice());
		});
		setImmediate(() => {
			if (!this.#closed) events.onWritable(this.#budget.left);
		});
	}

	/** Returns the budget left, as ECMA-419 sockets do. */
	write(bytes: Uint8Array): number {
		if (this.#closed) return 0;
		this.#budget.take(bytes);
		// Announced again once the bytes have left: the budget is what is not yet on its way. A write
		// into a connection the peer reset fails it, as on the board: no budget comes back, no more events.
		this.#socket.write(bytes, (error) => {
			if (error) return this.#fail("connection reset by the peer: write failed");
			this.#budget.grant(this.#budget.left + bytes.length);
			if (!this.#closed) this.#events?.onWritable(this.#budget.left);
		});
		return this.#budget.left;
	}

	/** `abrupt`: a reset, as when the simulator stops; otherwise what was written still goes out. */
	close(abrupt = false): void {
		this.#closed = true;
		(abrupt ? resetSocket : endSocket)(this.#socket);
		if (this.#released) return;
		this.#released = true;
		this.#onRelease();
	}

	#fail(message: string): void {
		if (this.#closed) return;
		this.#closed = true;
		this.#events?.onError(message);
	}
}

export class BoardListener {
	/** The device's own port, as its firmware asked. */
	readonly port: number;
	readonly #server: net.Server;
	readonly #connections = new Set<AcceptedConnection>();
	#address: string | undefined;

	/** `loopbackPort`: where on 127.0.0.1 (0: any free port). */
	constructor(port: number, loopbackPort: number, onConnection: (connection: AcceptedConnection) => void, onListening: (url: string) => void, onFailure: (message: string) => void) {
		this.port = port;
		this.#server = net.createServer((socket) => {
			// Held until its owner closes it, whatever the peer does.
			const connection: AcceptedConnection = new AcceptedConnection(socket, () => this.#connections.delete(connection));
			this.#connections.add(connection);
			onConnection(connection);
		});
		this.#server.on("error", (error: NodeJS.ErrnoException) => onFailure(error.code === "EADDRINUSE" ? "the port is in use (choose another http_port)" : error.code === "EACCES" ? "not allowed (ports below 1024 need privileges; choose http_port=8080)" : error.message));
		this.#server.listen(loopbackPort, "127.0.0.1", () => {
			const { port: forwarded } = this.#server.address() as net.AddressInfo;
			this.#address = `http://127.0.0.1:${forwarded}/`;
			onListening(this.#address);
		});
	}

	/** Accepted connections their owner has not closed yet, including those whose peer went away. */
	get open(): number {
		return this.#connections.size;
	}

	/** Where the computer reaches the device's port; undefined until listening. */
	get url(): string | undefined {
		return this.#address;
	}

	close(): void {
		this.#server.close();
		for (const connection of [...this.#connections]) connection.close(true);
		this.#connections.clear();
	}
}
