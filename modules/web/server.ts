/*
 * The HTTP server's driver: a host listener, a bounded set of connections,
 * each an HttpConnection fed from its socket and pulled for bytes within
 * the budget the socket announced (a write past it throws on Moddable).
 *
 * A slow or abusive client cannot starve MQTT and readings: at most
 * `maxConnections` sockets are held (a new one sheds the oldest idle one,
 * as browsers open speculative connections they may never use, or is
 * refused), each connection lives at most `connectionLifetime` ms whatever
 * it does, and every callback catches its own errors, since a throw inside
 * a host callback aborts XS (a device reset).
 */
import type { Host, Listener, Socket, TimerHandle } from "platform";
import { HttpConnection, defaultLimits, errorResponse, type HttpLimits, type HttpRequest, type HttpResponse } from "web/http";

export interface HttpServerOptions {
	host: Pick<Host, "clock" | "timers" | "log" | "listen">;
	port: number;
	handle(request: HttpRequest): HttpResponse;
	limits?: HttpLimits;
	maxConnections?: number;
	/** ms after which a connection is closed whatever state it is in. */
	connectionLifetime?: number;
}

interface Client {
	socket: Socket | undefined;
	http: HttpConnection;
	writable: number;
	timer: TimerHandle | undefined;
	opened: number;
}

export class HttpServer {
	readonly #options: HttpServerOptions;
	readonly #limits: HttpLimits;
	readonly #clients: Client[] = [];
	readonly #listener: Listener;
	/** Counters for the diagnostics. */
	readonly stats = { requests: 0, rejected: 0, refused: 0, timeouts: 0 };

	constructor(options: HttpServerOptions) {
		if (!options.host.listen) throw new Error("this host cannot listen for connections");
		this.#options = options;
		this.#limits = options.limits ?? defaultLimits;
		this.#listener = options.host.listen({ port: options.port, onConnection: (accept) => this.#accept(accept) });
	}

	get port(): number {
		return this.#listener.port;
	}

	get connections(): number {
		return this.#clients.length;
	}

	close(): void {
		this.#listener.close();
		for (const client of this.#clients.slice()) this.#drop(client);
	}

	#accept(accept: Parameters<Parameters<NonNullable<Host["listen"]>>[0]["onConnection"]>[0]): void {
		const { clock } = this.#options.host;
		const max = this.#options.maxConnections ?? 4;
		if (this.#clients.length >= max) {
			const idle = this.#clients.find((client) => client.http.idle);
			if (idle) this.#drop(idle);
		}
		const now = clock.now();
		const client: Client = { socket: undefined, http: new HttpConnection(now, this.#limits), writable: 0, timer: undefined, opened: now };
		const guard = (action: () => void) => (): void => {
			try {
				action();
			} catch (error) {
				this.#options.host.log("error", "http", `connection dropped: ${(error as Error).message}`);
				this.#drop(client);
			}
		};
		client.socket = accept({
			onReadable: () => guard(() => this.#read(client))(),
			onWritable: (count: number) => guard(() => {
				client.writable = count;
				this.#pump(client);
			})(),
			onError: () => {
				client.socket = undefined;
				this.#drop(client);
			},
		});
		if (this.#clients.length >= max) {
			// Every slot is busy with a request in progress: refuse this one outright.
			this.stats.refused++;
			this.#options.host.log("warn", "http", `connection refused: ${max} already open`);
			client.socket.close();
			client.socket = undefined;
			return;
		}
		this.#clients.push(client);
		this.#arm(client);
	}

	#read(client: Client): void {
		for (let chunk = client.socket?.read(); chunk && chunk.byteLength; chunk = client.socket?.read()) {
			client.http.receive(new Uint8Array(chunk));
		}
		this.#pump(client);
	}

	/** Moves the exchange on: answers a complete request, sends what the budget allows, closes when done. */
	#pump(client: Client): void {
		const request = client.http.pollRequest();
		if (request && "reason" in request) {
			this.stats.rejected++;
			this.#options.host.log("warn", "http", `rejected: ${request.status} ${request.reason}`);
		} else if (request) {
			this.stats.requests++;
			let response: HttpResponse;
			try {
				response = this.#options.handle(request);
			} catch (error) {
				this.#options.host.log("error", "http", `${request.method} ${request.path} failed: ${(error as Error).message}`);
				response = errorResponse(400, `the device could not handle this request: ${(error as Error).message}`);
			}
			if (response.status >= 400) this.stats.rejected++;
			client.http.respond(response);
		}
		while (client.socket && client.writable > 0) {
			const bytes = client.http.pollTransmit(client.writable);
			if (!bytes) break;
			client.writable = client.socket.write(bytes);
		}
		if (client.http.done) this.#drop(client);
		else if (request) this.#arm(client);
	}

	/** One timer per connection: the request's deadline, or the connection's end of life. */
	#arm(client: Client): void {
		const { clock, timers } = this.#options.host;
		timers.clear(client.timer);
		const end = client.opened + (this.#options.connectionLifetime ?? 30000);
		const deadline = Math.min(client.http.pollTimeout() ?? end, end);
		client.timer = timers.set(() => {
			client.timer = undefined;
			try {
				const now = clock.now();
				if (now >= end) {
					this.stats.timeouts++;
					this.#drop(client);
					return;
				}
				client.http.handleTimeout(now);
				this.#pump(client);
				if (this.#clients.includes(client) && !client.timer) this.#arm(client);
			} catch (error) {
				this.#options.host.log("error", "http", `timer: ${(error as Error).message}`);
				this.#drop(client);
			}
		}, Math.max(0, deadline - clock.now()));
	}

	#drop(client: Client): void {
		const index = this.#clients.indexOf(client);
		if (index >= 0) this.#clients.splice(index, 1);
		this.#options.host.timers.clear(client.timer);
		client.timer = undefined;
		const socket = client.socket;
		client.socket = undefined;
		socket?.close();
	}
}
