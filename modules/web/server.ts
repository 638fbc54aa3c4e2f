/*
 * The HTTP server's driver: a host listener, a bounded set of connections,
 * each an HttpConnection fed from its socket and pulled for bytes within
 * the budget the socket announced (a write past it throws on Moddable).
 *
 * A slow or abusive client can starve neither MQTT and readings nor other
 * clients. At most `maxConnections` requests are served at once. One request
 * per connection, so a connection is never idle: none is shed for being new.
 * A connection beyond them waits for a slot, unread (its bytes stay in its
 * socket), up to `maxWaiting` of them, each for at most the request timeout;
 * beyond those it is answered 503 at once, one at a time, and closed at once
 * while one is. Every connection is taken from the listener as it comes:
 * on lwIP one left pending has no error callback, so a client's reset would
 * free it under the listener's list (modules/io/socket/lwip/tcp.c). The
 * defaults hold at most eleven (two served, eight waiting, one refused):
 * more than a board's lwIP hands over (eight TCP connections in all, MQTT's
 * among them: CONFIG_LWIP_MAX_ACTIVE_TCP), and within the fixed arena's
 * slots (docs/web.md). While one waits, a request still
 * arriving `contendedTimeout` ms after it got its slot is cut with 408, so a
 * few slow sockets cannot hold every slot for long. Every refusal and cut is
 * logged and counted. Each connection lives at most `connectionLifetime` ms,
 * and every callback catches its own errors, since a throw inside a host
 * callback aborts XS (a device reset).
 *
 * Every socket's life ends in exactly one close(), whoever ends it: on
 * Moddable a socket that reported an error still holds its descriptor, its
 * buffers and its task until its owner closes it (modules/io/socket/lin/tcp.c).
 */
import type { Host, Listener, Socket, TimerHandle } from "platform";
import { HttpConnection, defaultLimits, errorResponse, type HttpLimits, type HttpRequest, type HttpResponse } from "web/http";

/** The most bytes read from a socket at once. */
export const readSize = 512;

/**
 * Requests served at once, and connections that may wait for a slot: room
 * for the eight parallel requests a browser or a script makes, with two to
 * spare for clients gone while they waited (lin reports a peer's close only
 * once its unread bytes are read).
 */
export const defaultMaxConnections = 2;
export const defaultMaxWaiting = 8;

/** 503s written at once: each holds a parser and its answer until it is sent, so beyond one a connection is closed unanswered. */
const maxRefusing = 1;

export interface HttpServerOptions {
	host: Pick<Host, "clock" | "timers" | "log" | "listen" | "utf8">;
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
	/** Requests served at once (defaultMaxConnections). */
	maxConnections?: number;
	/** Connections that may wait for a slot (defaultMaxWaiting); more are answered 503. */
	maxWaiting?: number;
	/** ms a request may take to arrive while others wait for a slot. */
	contendedTimeout?: number;
	/** ms after which a connection is closed whatever state it is in. */
	connectionLifetime?: number;
}

/** Takes a streamed body. A response from write() ends the request early (a refusal); abort() means it will never end. */
export interface BodySink {
	write(chunk: Uint8Array): HttpResponse | undefined;
	end(): HttpResponse;
	abort(reason: string): void;
}

/** What a connection's callbacks lead to in its server: one set per server, not closures per connection. */
interface ConnectionEvents {
	readable(client: Client, count: number): void;
	writable(client: Client, count: number): void;
	lost(client: Client, message: string): void;
}

/**
 * A connection and its state. It is its socket's callbacks too, as
 * methods (in flash once preloaded): a burst of connections costs the
 * fields each holds, not closures made for each.
 */
class Client {
	socket: Socket | undefined = undefined;
	/** Made when the connection gets its slot; undefined while it waits. */
	http: HttpConnection | undefined = undefined;
	/** The handler of a streamed body still arriving. */
	sink: BodySink | undefined = undefined;
	writable = 0;
	/** Bytes the socket holds unread: what its last onReadable announced (Moddable's count is all it holds, not an increment), less what was read since. */
	readable = 0;
	/** When the server next looks at it (see #arm); Infinity for never. */
	deadline = Infinity;
	/** When it was accepted, then when it got its slot. */
	opened: number;
	/** Answered 503 without a slot. */
	refused = false;
	readonly #events: ConnectionEvents;

	constructor(opened: number, events: ConnectionEvents) {
		this.opened = opened;
		this.#events = events;
	}

	onReadable(count: number): void {
		this.#events.readable(this, count);
	}

	onWritable(count: number): void {
		this.#events.writable(this, count);
	}

	onError(message: string): void {
		this.#events.lost(this, message);
	}
}

export class HttpServer {
	readonly #options: HttpServerOptions;
	readonly #limits: HttpLimits;
	readonly #max: number;
	readonly #maxWaiting: number;
	/** Connections with a slot, and those being refused. */
	readonly #clients: Client[] = [];
	/** Connections waiting for a slot, oldest first. */
	readonly #waiting: Client[] = [];
	readonly #listener: Listener;
	/** Where every connection's callbacks lead (see Client). */
	readonly #events: ConnectionEvents = {
		// A waiting connection is not read: its bytes stay in the socket until it gets a slot.
		readable: (client, count) => {
			try {
				client.readable = count;
				if (client.http) this.#read(client);
			} catch (error) {
				this.#dropAfter(client, error);
			}
		},
		writable: (client, count) => {
			try {
				client.writable = count;
				if (client.http) this.#pump(client);
			} catch (error) {
				this.#dropAfter(client, error);
			}
		},
		// The peer went away (a write into its reset connection failed): the socket is still ours to close.
		lost: (client, message) => {
			try {
				if (!client.socket) return;
				this.stats.lost++;
				this.#options.host.log("warn", "http", `connection closed: ${message}`);
				this.#drop(client);
			} catch (error) {
				this.#dropAfter(client, error);
			}
		},
	};
	#closed = false;
	/** #promote is running: a drop inside it leaves the promoting to its loop. */
	#promoting = false;
	#timer: TimerHandle | undefined = undefined;
	/** When #timer fires; Infinity when it is not set. */
	#timerAt = Infinity;
	readonly #onTimer = (): void => this.#expire();
	/** Where every connection's bytes are read, made on the first read. */
	#readBuffer: Uint8Array | undefined;
	/**
	 * Counters for the diagnostics: `refused` answered 503 (or closed when
	 * even that has no room), `queued` waited for a slot, `shed` cut with 408
	 * for arriving too slowly while others waited, `lost` closed because
	 * the peer went away (reset) before its answer was written.
	 */
	readonly stats = { requests: 0, rejected: 0, refused: 0, timeouts: 0, queued: 0, shed: 0, lost: 0 };

	constructor(options: HttpServerOptions) {
		if (!options.host.listen) throw new Error("this host cannot listen for connections");
		this.#options = options;
		this.#limits = options.limits ?? defaultLimits;
		this.#max = options.maxConnections ?? defaultMaxConnections;
		this.#maxWaiting = options.maxWaiting ?? defaultMaxWaiting;
		this.#listener = options.host.listen({ port: options.port, onConnection: (accept) => this.#accept(accept), admit: () => this.#admit() });
	}

	get port(): number {
		return this.#listener.port;
	}

	/** Sockets held: served, refused and waiting. */
	get connections(): number {
		return this.#clients.length + this.#waiting.length;
	}

	close(): void {
		this.#closed = true;
		this.#listener.close();
		for (const client of this.#clients.slice()) this.#drop(client);
		for (const client of this.#waiting.slice()) this.#drop(client);
	}

	#accept(accept: Parameters<Parameters<NonNullable<Host["listen"]>>[0]["onConnection"]>[0]): void {
		const client = new Client(this.#options.host.clock.now(), this.#events);
		client.socket = accept(client);
		// Once the socket is made, only its owner can close it: a throw now (a timer with no room) drops it here.
		try {
			if (this.#serving() < this.#max) {
				this.#clients.push(client);
				this.#serve(client);
			} else if (this.#waiting.length < this.#maxWaiting) {
				this.#waiting.push(client);
				this.stats.queued++;
				this.#arm(client);
				// Requests still arriving now have others waiting behind them: their shorter bound applies.
				for (const other of this.#clients) if (!other.refused && other.http?.pollTimeout() !== undefined) this.#arm(other);
			} else {
				this.#refuse(client, `${this.#max} requests are being served and ${this.#maxWaiting} wait`);
			}
		} catch (error) {
			this.#dropAfter(client, error);
		}
	}

	/**
	 * Whether the next connection will be kept: it gets a slot, a place to
	 * wait, or its 503. One that will not is counted and logged here, and
	 * its host closes it before anything is made for it.
	 */
	#admit(): boolean {
		if (this.#closed) return false;
		if (this.#serving() < this.#max || this.#waiting.length < this.#maxWaiting || this.#refusing() < maxRefusing) return true;
		this.stats.refused++;
		this.#options.host.log("warn", "http", `connection refused: ${this.#max} requests are being served, ${this.#maxWaiting} wait and a 503 is being written`);
		return false;
	}

	/** A connection's callback threw: it is dropped, and the server serves on. */
	#dropAfter(client: Client, error: unknown): void {
		this.#options.host.log("error", "http", `connection dropped: ${(error as Error).message}`);
		this.#drop(client);
	}

	#serving(): number {
		let count = 0;
		for (const client of this.#clients) if (!client.refused) count++;
		return count;
	}

	#refusing(): number {
		return this.#clients.length - this.#serving();
	}

	/** The connection gets its slot: its request is read, including what arrived while it waited. */
	#serve(client: Client): void {
		const now = this.#options.host.clock.now();
		const streams = this.#options.streams;
		client.opened = now;
		client.http = new HttpConnection(now, this.#limits, streams, this.#options.host.utf8);
		this.#arm(client);
		this.#read(client);
	}

	/** Answers 503 without a slot; while another 503 is being written, closes at once. Logged and counted either way. */
	#refuse(client: Client, reason: string): void {
		this.stats.refused++;
		this.#options.host.log("warn", "http", `connection refused: ${reason}`);
		if (this.#refusing() >= maxRefusing) {
			this.#drop(client);
			return;
		}
		client.refused = true;
		client.http = new HttpConnection(this.#options.host.clock.now(), this.#limits);
		client.http.abandon(503, `the device is busy (${reason}); try again shortly`);
		this.#clients.push(client);
		this.#arm(client);
		this.#pump(client);
	}

	/**
	 * Waiting connections take the slots that are free, oldest first. One
	 * served whole at once (its request arrived while it waited, the socket
	 * had room) is dropped inside #serve, which promotes again: that call
	 * returns and this loop goes on, so a queue is served one after another,
	 * not one inside another (six nested answers overflow a 512-slot stack).
	 */
	#promote(): void {
		if (this.#promoting) return;
		this.#promoting = true;
		try {
			while (!this.#closed && this.#waiting.length && this.#serving() < this.#max) {
				const next = this.#waiting.shift()!;
				this.#clients.push(next);
				try {
					this.#serve(next);
				} catch (error) {
					this.#dropAfter(next, error);
				}
			}
		} finally {
			this.#promoting = false;
		}
	}

	/**
	 * Reads what the socket holds, at most `readSize` bytes at a time, into
	 * the server's one read buffer: reading allocates nothing, whatever a
	 * client sends (a socket's read() without a count would make one buffer
	 * of all it holds: on lwIP, as much as the TCP window). Each part is
	 * answered before the next overwrites it, since a body that came whole,
	 * and a streamed body's chunks, are views of it; bytes after a complete
	 * request (a refused body still arriving) are read and dropped.
	 */
	#read(client: Client): void {
		const http = client.http!;
		const buffer = this.#readBuffer ??= new Uint8Array(readSize);
		while (client.socket && client.http === http && client.readable > 0) {
			const size = Math.min(client.readable, buffer.length);
			const into = size === buffer.length ? buffer : buffer.subarray(0, size);
			client.readable -= size;
			if (client.socket.read(into) !== size) throw new Error(`the socket held fewer than the ${size} bytes it announced`);
			http.receive(into, this.#options.host.clock.now());
			// A streamed body goes to its sink chunk by chunk as it is read, never gathered.
			if (client.sink) this.#feed(client);
			this.#pump(client);
		}
	}

	/** Hands a streamed body's chunks to its sink; the sink's early answer, or its final one, ends the request. */
	#feed(client: Client): void {
		const sink = client.sink!;
		const http = client.http!;
		let response: HttpResponse | undefined;
		for (let chunk = http.pollBody(); chunk && !response; chunk = http.pollBody()) response = this.#call(() => sink.write(chunk!), sink);
		if (!response && http.bodyComplete) response = this.#call(() => sink.end(), sink);
		if (response) {
			client.sink = undefined;
			if (response.status >= 400) this.stats.rejected++;
			http.respond(response);
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
		const http = client.http;
		if (!http) return;
		const request = http.pollRequest();
		if (request && "reason" in request) {
			// A refusal was logged and counted as one already.
			if (!client.refused) {
				this.stats.rejected++;
				this.#options.host.log("warn", "http", `rejected: ${request.status} ${request.reason}`);
			}
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
				http.respond(opened);
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
			http.respond(response);
		}
		while (client.socket && client.writable > 0) {
			const bytes = http.pollTransmit(client.writable);
			if (!bytes) break;
			client.writable = client.socket.write(bytes);
		}
		if (http.done) this.#drop(client);
		else if (request) this.#arm(client);
	}

	/**
	 * A connection's next deadline: a waiting one's wait for a slot; a
	 * served one's request deadline (shorter while others wait), or its end
	 * of life. The server has one timer, at the earliest of them: a
	 * connection makes neither a timer nor a closure.
	 */
	#arm(client: Client): void {
		const http = client.http;
		if (!http) client.deadline = client.opened + this.#limits.requestTimeout;
		else {
			const end = client.opened + this.#lifetime(client);
			client.deadline = Math.min(http.pollTimeout() ?? end, end);
			if (this.#cuttable(client)) client.deadline = Math.min(client.deadline, this.#contendedEnd(client));
		}
		this.#schedule();
	}

	/** A streamed body (a firmware image) has its own bounds in the parser: the stream's, not the connection's, lifetime. */
	#lifetime(client: Client): number {
		return client.refused ? this.#limits.requestTimeout
			: Math.max(this.#options.connectionLifetime ?? 30000, client.sink ? this.#limits.streamTimeout + 1000 : 0);
	}

	#contendedEnd(client: Client): number {
		return client.opened + (this.#options.contendedTimeout ?? 2000);
	}

	/** Only a request still arriving is cut while others wait; one being answered finishes. */
	#cuttable(client: Client): boolean {
		return this.#waiting.length > 0 && !client.sink && !client.refused && client.http?.pollTimeout() !== undefined;
	}

	/** The server's one timer, set for the earliest deadline of any connection. */
	#schedule(): void {
		let next = Infinity;
		for (const client of this.#clients) next = Math.min(next, client.deadline);
		for (const client of this.#waiting) next = Math.min(next, client.deadline);
		if (next === this.#timerAt) return;
		const { clock, timers } = this.#options.host;
		timers.clear(this.#timer);
		this.#timer = undefined;
		this.#timerAt = Infinity;
		if (next === Infinity || this.#closed) return;
		this.#timerAt = next;
		this.#timer = timers.set(this.#onTimer, Math.max(0, next - clock.now()));
	}

	/** Every connection whose deadline has come, oldest first: each is handled as it is then, since one's end may free a slot for another. */
	#expire(): void {
		this.#timer = undefined;
		this.#timerAt = Infinity;
		const now = this.#options.host.clock.now();
		const due: Client[] = [];
		for (const client of this.#clients) if (client.deadline <= now) due.push(client);
		for (const client of this.#waiting) if (client.deadline <= now) due.push(client);
		for (const client of due) if (client.socket && client.deadline <= now) this.#timeout(client, now);
		this.#schedule();
	}

	#timeout(client: Client, now: number): void {
		try {
			const http = client.http;
			if (!http) {
				const index = this.#waiting.indexOf(client);
				if (index < 0) return;
				this.#waiting.splice(index, 1);
				this.#refuse(client, `no slot came free within ${this.#limits.requestTimeout} ms`);
				return;
			}
			const lifetime = this.#lifetime(client);
			if (now >= client.opened + lifetime) {
				this.stats.timeouts++;
				this.#options.host.log("warn", "http", `connection closed: open longer than ${lifetime} ms`);
				this.#drop(client);
				return;
			}
			const contended = this.#contendedEnd(client);
			if (this.#cuttable(client) && now >= contended && http.abandon(408, `the request was not complete within ${contended - client.opened} ms while others waited`)) {
				this.stats.shed++;
				this.#options.host.log("warn", "http", `slow request cut: ${this.#waiting.length} waiting`);
			} else http.handleTimeout(now);
			this.#pump(client);
			if (client.socket) this.#arm(client);
		} catch (error) {
			this.#options.host.log("error", "http", `timer: ${(error as Error).message}`);
			this.#drop(client);
		}
	}

	/** Ends a connection in any state: its one close(), then its slot goes to the next waiting. */
	#drop(client: Client): void {
		// An upload cut off (closed, timed out, shed) never completes: the sink undoes it.
		client.sink?.abort("the connection closed before the body was complete");
		client.sink = undefined;
		const list = this.#clients.includes(client) ? this.#clients : this.#waiting;
		const index = list.indexOf(client);
		if (index >= 0) list.splice(index, 1);
		client.deadline = Infinity;
		const socket = client.socket;
		client.socket = undefined;
		// The socket's callbacks, and so this client, live until the host has closed it (on Moddable, a turn later):
		// the request and its answer need not. A burst then holds what it is served, not what it was.
		client.http = undefined;
		try {
			socket?.close();
		} catch (error) {
			this.#options.host.log("error", "http", `close: ${(error as Error).message}`);
		}
		this.#promote();
		this.#schedule();
	}
}
