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
	/**
	 * Optional: routes whose body is streamed (a firmware image) and the
	 * handler that takes it chunk by chunk, or refuses it at once.
	 */
	streams?: {
		accepts(method: string, path: string): boolean;
		open(request: HttpRequest): BodySink | HttpResponse;
	};
	limits?: HttpLimits;
	maxConnections?: number;
	/** ms after which a connection is closed whatever state it is in. */
	connectionLifetime?: number;
}

/** Takes a streamed body. A response from write() ends the request early (a refusal); abort() means it will never end. */
export interface BodySink {
	write(chunk: Uint8Array): HttpResponse | undefined;
	end(): HttpResponse;
	abort(reason: string): void;
}

interface Client {
	socket: Socket | undefined;
	http: HttpConnection;
	/** The handler of a streamed body still arriving. */
	sink: BodySink | undefined;
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
		const streams = this.#options.streams;
		const http = new HttpConnection(now, this.#limits, streams ? (method, path) => streams.accepts(method, path) : undefined);
		const client: Client = { socket: undefined, http, sink: undefined, writable: 0, timer: undefined, opened: now };
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
			client.http.receive(new Uint8Array(chunk), this.#options.host.clock.now());
			// A streamed body goes to its sink chunk by chunk as it is read, never gathered.
			if (client.sink) this.#feed(client);
		}
		this.#pump(client);
	}

	/** Hands a streamed body's chunks to its sink; the sink's early answer, or its final one, ends the request. */
	#feed(client: Client): void {
		const sink = client.sink!;
		let response: HttpResponse | undefined;
		for (let chunk = client.http.pollBody(); chunk && !response; chunk = client.http.pollBody()) response = this.#call(() => sink.write(chunk!), sink);
		if (!response && client.http.bodyComplete) response = this.#call(() => sink.end(), sink);
		if (response) {
			client.sink = undefined;
			if (response.status >= 400) this.stats.rejected++;
			client.http.respond(response);
		}
	}

	/** A sink's call; a throw is a 500 and the sink is aborted, so it never leaves work half done. */
	#call(action: () => HttpResponse | undefined, sink: BodySink): HttpResponse | undefined {
		try {
			return action();
		} catch (error) {
			const reason = (error as Error).message;
			this.#options.host.log("error", "http", `streamed body failed: ${reason}`);
			sink.abort(reason);
			return errorResponse(500, `the device failed while taking the body: ${reason}`);
		}
	}

	/** Moves the exchange on: answers a complete request, sends what the budget allows, closes when done. */
	#pump(client: Client): void {
		const request = client.http.pollRequest();
		if (request && "reason" in request) {
			this.stats.rejected++;
			this.#options.host.log("warn", "http", `rejected: ${request.status} ${request.reason}`);
			client.sink?.abort(request.reason);
			client.sink = undefined;
		} else if (request && request.streamed !== undefined) {
			this.stats.requests++;
			const opened = this.#call(() => {
				const result = this.#options.streams!.open(request);
				if ("status" in result) return result;
				client.sink = result;
				return undefined;
			}, { write: () => undefined, end: () => errorResponse(500, "no sink"), abort: () => undefined });
			if (opened) {
				if (opened.status >= 400) this.stats.rejected++;
				client.http.respond(opened);
			} else this.#feed(client);
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
		// A streamed body (a firmware image) has its own bounds in the parser: the stream's, not the connection's, lifetime.
		const lifetime = Math.max(this.#options.connectionLifetime ?? 30000, client.sink ? this.#limits.streamTimeout + 1000 : 0);
		const end = client.opened + lifetime;
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
		// An upload cut off (closed, timed out, shed) never completes: the sink undoes it.
		client.sink?.abort("the connection closed before the body was complete");
		client.sink = undefined;
		const index = this.#clients.indexOf(client);
		if (index >= 0) this.#clients.splice(index, 1);
		this.#options.host.timers.clear(client.timer);
		client.timer = undefined;
		const socket = client.socket;
		client.socket = undefined;
		socket?.close();
	}
}
