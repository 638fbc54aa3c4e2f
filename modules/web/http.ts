/*
 * One HTTP/1.1 exchange on one connection, sans I/O (as h11 does it): bytes
 * and the time go in, a parsed request (or the 4xx that ends it) comes out,
 * the response goes back in, and the driver pulls the bytes to send within
 * the budget its socket announced. A device with 30 KB of heap cannot let a
 * client decide how much it stores or how long it waits, so the head, the
 * body and the time per request are all bounded, and every violation is
 * answered with a 4xx that says why. One request per connection
 * (`Connection: close`): the page makes a handful of requests a second at
 * most, and a closed connection is a freed socket.
 */
import type { Utf8Decoder } from "platform";
import { decodeUtf8With, encodeUtf8, utf8Length, writeUtf8, type Utf8Cursor } from "utf8";

export interface HttpLimits {
	/** Most bytes in the request line and headers. */
	maxHead: number;
	/** Most bytes in a request body. */
	maxBody: number;
	/** ms from the first byte (or accept) to a complete request; for a streamed body, the most ms between two of its chunks. */
	requestTimeout: number;
	/** ms a streamed body (a firmware image) may take in all. */
	streamTimeout: number;
}

export const defaultLimits: HttpLimits = { maxHead: 2048, maxBody: 4096, requestTimeout: 10000, streamTimeout: 300000 };

export interface HttpRequest {
	method: string;
	/** The path without its query string. */
	path: string;
	query: string;
	/** Header names in lower case; a repeated header keeps its last value. */
	headers: Record<string, string>;
	body: Uint8Array;
	/** The body's length when it is streamed: it arrives through pollBody(), never whole. */
	streamed?: number;
	/** The host's native UTF-8 decoder, when it has one: the body's text is made with it (decodeUtf8With). */
	utf8?: Utf8Decoder;
}

export interface HttpResponse {
	status: number;
	/** Extra headers; Content-Length and Connection are added. */
	headers?: readonly (readonly [string, string])[];
	body?: Uint8Array | string | TextParts | BodySource;
}

/**
 * A text made a part at a time as the socket takes it, never whole in RAM:
 * a JSON answer written an entry at a time. Asked for each part twice, in
 * order (once to count its bytes, once to send them), it must answer the
 * same both times.
 */
export interface TextParts {
	readonly count: number;
	part(index: number): string;
}

/**
 * A body made a slice at a time as the socket takes it, never whole in RAM:
 * the page, read from the strings in flash. A Uint8Array is one too.
 */
export interface BodySource {
	readonly length: number;
	/** Bytes [start, end), at most `maxSlice` of them. */
	slice(start: number, end: number): Uint8Array;
}

/** The most bytes a BodySource is asked for at once: a fixed arena has no room for a page-sized chunk. */
export const maxSlice = 1024;

/** A request that cannot be served, with the status and the reason sent back. */
export interface HttpRejection {
	status: number;
	reason: string;
}

const enum State {
	Head,
	Body,
	/** A request (or rejection) is ready for the driver. */
	Ready,
	/** A streamed body is arriving; the driver pulls it with pollBody(). */
	Streaming,
	/** The driver is building the response. */
	Handling,
	Sending,
	Done,
}

const reasons: Record<number, string> = {
	200: "OK", 202: "Accepted", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 406: "Not Acceptable",
	405: "Method Not Allowed", 408: "Request Timeout", 411: "Length Required", 413: "Content Too Large",
	409: "Conflict", 415: "Unsupported Media Type", 422: "Unprocessable Content", 431: "Request Header Fields Too Large",
	500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable", 505: "HTTP Version Not Supported",
};

/** RFC 9110 tchar, by character code: the header name's alphabet. */
function isTokenChar(code: number): boolean {
	return (code >= 0x61 && code <= 0x7a) || (code >= 0x41 && code <= 0x5a) || (code >= 0x30 && code <= 0x39) || "!#$%&'*+-.^_`|~".indexOf(String.fromCharCode(code)) >= 0;
}

/** A header name: one or more tchars. */
function isToken(text: string): boolean {
	if (!text.length) return false;
	for (let i = 0; i < text.length; i++) if (!isTokenChar(text.charCodeAt(i))) return false;
	return true;
}

/** A method as this server accepts it: 1 to 10 capital letters. */
function isMethod(text: string): boolean {
	if (text.length < 1 || text.length > 10) return false;
	for (let i = 0; i < text.length; i++) {
		const code = text.charCodeAt(i);
		if (code < 0x41 || code > 0x5a) return false;
	}
	return true;
}

/** The routes whose body is streamed, asked as a method (an object of the server's, not a closure per connection). */
export interface StreamedRoutes {
	accepts(method: string, path: string): boolean;
}

export class HttpConnection {
	readonly #limits: HttpLimits;
	#state = State.Head;
	#head: Uint8Array = new Uint8Array(0);
	#request: HttpRequest | undefined;
	#rejection: HttpRejection | undefined;
	/** A body that arrives over several reads, gathered; one that came whole is never copied. */
	#body: Uint8Array | undefined;
	#bodyLength = 0;
	#bodyFilled = 0;
	/** The response's head, then its body, sent without joining them (the page is kilobytes). */
	#output: BodySource[] = [];
	#sent = 0;
	#deadline: number;
	readonly #streams: StreamedRoutes | undefined;
	/** A streamed body: its chunks not yet pulled, bytes still to come, and when it must end. */
	#chunks: Uint8Array[] = [];
	#remaining = 0;
	#streamEnd = 0;
	#now: number;
	readonly #utf8: Utf8Decoder | undefined;

	/**
	 * `streams` names the routes whose body is handed out in chunks as it
	 * arrives (a firmware image), bounded by Content-Length; `utf8` is the
	 * host's native decoder, if it has one, for the head and the body's text.
	 */
	constructor(now: number, limits: HttpLimits = defaultLimits, streams?: StreamedRoutes, utf8?: Utf8Decoder) {
		this.#limits = limits;
		this.#now = now;
		this.#deadline = now + limits.requestTimeout;
		this.#streams = streams;
		this.#utf8 = utf8;
	}

	/**
	 * Bytes from the client. Anything after a complete request is ignored.
	 * The caller may reuse `bytes` once the request this completes has been
	 * answered (or a streamed chunk pulled): what is kept across calls is
	 * copied, but a body that came whole in this call, and the chunks of a
	 * streamed one, are views of it.
	 */
	receive(bytes: Uint8Array, now = this.#now): void {
		this.#now = now;
		if (this.#state === State.Head) this.#receiveHead(bytes);
		else if (this.#state === State.Body) this.#receiveBody(bytes, 0);
		else if (this.#state === State.Streaming) this.#receiveStream(bytes, 0);
	}

	/** The time passed: a request still incomplete at its deadline is answered 408. */
	handleTimeout(now: number): void {
		this.#now = now;
		if ((this.#state === State.Head || this.#state === State.Body) && now >= this.#deadline) {
			this.#reject(408, `the request was not complete within ${this.#limits.requestTimeout} ms`);
		} else if (this.#state === State.Streaming && now >= this.#deadline) {
			this.#reject(408, now >= this.#streamEnd
				? `the body was not complete within ${this.#limits.streamTimeout} ms`
				: `the body stalled: nothing for ${this.#limits.requestTimeout} ms with ${this.#remaining} bytes to come`);
		}
	}

	/** When handleTimeout must next be called; undefined once the request is complete. */
	pollTimeout(): number | undefined {
		return this.#state === State.Head || this.#state === State.Body || this.#state === State.Streaming ? this.#deadline : undefined;
	}

	/**
	 * The next chunk of a streamed body, in order, as it arrived (a view of
	 * the received bytes, not a copy). undefined when none is waiting.
	 */
	pollBody(): Uint8Array | undefined {
		const chunk = this.#chunks.shift();
		if (this.#state === State.Streaming && this.#remaining === 0 && !this.#chunks.length) this.#state = State.Handling;
		return chunk;
	}

	/** A streamed body has arrived whole and been pulled: the driver responds. */
	get bodyComplete(): boolean {
		return this.#state === State.Handling;
	}

	/**
	 * The complete request, once, for the driver to answer with respond().
	 * A rejection is answered here already; the driver only sends it.
	 */
	pollRequest(): HttpRequest | HttpRejection | undefined {
		if (this.#state !== State.Ready) return undefined;
		if (this.#rejection) {
			const rejection = this.#rejection;
			this.#queue(errorResponse(rejection.status, rejection.reason));
			return rejection;
		}
		this.#state = this.#request!.streamed !== undefined ? State.Streaming : State.Handling;
		if (this.#state === State.Streaming && this.#remaining === 0 && !this.#chunks.length) this.#state = State.Handling;
		return this.#request;
	}

	/** The answer; while a streamed body is still arriving, an early one (a refusal), after which the rest is ignored. */
	respond(response: HttpResponse): void {
		if (this.#state !== State.Handling && this.#state !== State.Streaming) throw new Error("no request is waiting for a response");
		this.#chunks = [];
		this.#queue(response);
	}

	/** The next bytes to send, at most `budget` of them; undefined when there are none. */
	pollTransmit(budget: number): Uint8Array | undefined {
		if (this.#state !== State.Sending || budget <= 0) return undefined;
		const part = this.#output[0]!;
		// Bytes already in RAM are sent as views; a source makes only what this write takes.
		const end = part instanceof Uint8Array ? Math.min(part.length, this.#sent + budget) : Math.min(part.length, this.#sent + budget, this.#sent + maxSlice);
		const chunk = part instanceof Uint8Array ? part.subarray(this.#sent, end) : part.slice(this.#sent, end);
		this.#sent = end;
		if (end === part.length) {
			this.#output.shift();
			this.#sent = 0;
			if (!this.#output.length) this.#state = State.Done;
		}
		return chunk;
	}

	/** The whole response has been handed out: the driver closes the socket. */
	get done(): boolean {
		return this.#state === State.Done;
	}

	/**
	 * Ends a request still arriving with `status` and `reason` (the driver's
	 * own bound, such as a slow client holding a slot others wait for).
	 * False once the request is complete: a request being answered is never cut.
	 */
	abandon(status: number, reason: string): boolean {
		if (this.#state !== State.Head && this.#state !== State.Body) return false;
		this.#reject(status, reason);
		return true;
	}

	#receiveHead(bytes: Uint8Array): void {
		const previous = this.#head.length;
		// A head that came in one read (nearly every one) is parsed where it lies; only a split one is joined.
		let joined = bytes;
		// Of `bytes`, those joined: no more than the longest head and its blank line, whatever arrives.
		let used = bytes.length;
		if (previous) {
			used = Math.min(bytes.length, this.#limits.maxHead + 4 - previous);
			joined = new Uint8Array(previous + used);
			joined.set(this.#head);
			joined.set(used === bytes.length ? bytes : bytes.subarray(0, used), previous);
		}
		// Search from just before the new bytes: the blank line may straddle the two.
		const end = findBlankLine(joined, Math.max(0, previous - 3));
		if (end < 0) {
			if (joined.length > this.#limits.maxHead) this.#reject(431, `the request head is longer than ${this.#limits.maxHead} bytes`);
			// The part of a head kept for the next read is a copy: the caller reuses its buffer.
			else this.#head = previous ? joined : bytes.slice();
			return;
		}
		if (end > this.#limits.maxHead) return this.#reject(431, `the request head is longer than ${this.#limits.maxHead} bytes`);
		this.#head = new Uint8Array(0);
		const problem = this.#parseHead(joined, end);
		if (problem) return this.#reject(problem.status, problem.reason);
		const streamed = this.#request!.streamed !== undefined;
		if (streamed) this.#receiveStream(joined, end + 4);
		else this.#receiveBody(joined, end + 4);
		// What came after the joined part: more of the body.
		if (used < bytes.length) {
			if (streamed) this.#receiveStream(bytes, used);
			else if (this.#state === State.Body) this.#receiveBody(bytes, used);
		}
	}

	/** Keeps a streamed body's chunks (up to Content-Length) for pollBody; the driver pulls them after each read. */
	#receiveStream(bytes: Uint8Array, start: number): void {
		const take = Math.min(this.#remaining, bytes.length - start);
		if (take <= 0) return;
		this.#chunks.push(bytes.subarray(start, start + take));
		this.#remaining -= take;
		this.#deadline = Math.min(this.#now + this.#limits.requestTimeout, this.#streamEnd);
	}

	#parseHead(bytes: Uint8Array, end: number): HttpRejection | undefined {
		const text = decodeUtf8With(this.#utf8, bytes, 0, end);
		if (text === undefined) return { status: 400, reason: "the request head is not valid UTF-8" };
		const lines = text.split("\r\n");
		const requestLine = lines[0]!.split(" ");
		if (requestLine.length !== 3) return { status: 400, reason: "malformed request line" };
		const [method, target, version] = requestLine as [string, string, string];
		if (!isMethod(method)) return { status: 400, reason: "malformed method" };
		if (!target.startsWith("/")) return { status: 400, reason: "the request target must be a path" };
		if (version !== "HTTP/1.1" && version !== "HTTP/1.0") return { status: 505, reason: `${version.slice(0, 16)} is not supported; use HTTP/1.1` };
		const headers: Record<string, string> = Object.create(null) as Record<string, string>;
		for (let i = 1; i < lines.length; i++) {
			const line = lines[i]!;
			const colon = line.indexOf(":");
			if (colon <= 0 || !isToken(line.slice(0, colon))) return { status: 400, reason: `malformed header line ${i}` };
			headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
		}
		if (headers["transfer-encoding"] !== undefined) return { status: 411, reason: "chunked bodies are not accepted; send Content-Length" };
		const lengthText = headers["content-length"];
		let length = 0;
		if (lengthText !== undefined) {
			if (!/^\d{1,10}$/.test(lengthText)) return { status: 400, reason: "malformed Content-Length" };
			length = Number(lengthText);
		}
		const query = target.indexOf("?");
		const path = query < 0 ? target : target.slice(0, query);
		const streamed = this.#streams?.accepts(method, path) === true;
		if (streamed && lengthText === undefined) return { status: 411, reason: "send the body's length as Content-Length" };
		if (!streamed && length > this.#limits.maxBody) return { status: 413, reason: `the body is ${length} bytes; at most ${this.#limits.maxBody} are accepted` };
		this.#request = { method, path, query: query < 0 ? "" : target.slice(query + 1), headers, body: new Uint8Array(0), utf8: this.#utf8 };
		if (streamed) {
			this.#request.streamed = length;
			this.#remaining = length;
			this.#streamEnd = this.#now + this.#limits.streamTimeout;
			this.#deadline = Math.min(this.#now + this.#limits.requestTimeout, this.#streamEnd);
			this.#state = State.Ready;
			return undefined;
		}
		this.#bodyLength = length;
		this.#bodyFilled = 0;
		this.#state = State.Body;
		return undefined;
	}

	#receiveBody(bytes: Uint8Array, start: number): void {
		// A body that arrived whole with its head (nearly every one) stays where the socket put it: a view, no copy.
		if (!this.#body && bytes.length - start >= this.#bodyLength) {
			this.#request!.body = bytes.subarray(start, start + this.#bodyLength);
			this.#state = State.Ready;
			return;
		}
		const body = this.#body ??= new Uint8Array(this.#bodyLength);
		const take = Math.min(body.length - this.#bodyFilled, bytes.length - start);
		body.set(bytes.subarray(start, start + take), this.#bodyFilled);
		this.#bodyFilled += take;
		if (this.#bodyFilled === body.length) {
			this.#request!.body = body;
			this.#body = undefined;
			this.#state = State.Ready;
		}
	}

	#reject(status: number, reason: string): void {
		this.#head = new Uint8Array(0);
		this.#chunks = [];
		this.#body = undefined;
		this.#rejection = { status, reason };
		this.#state = State.Ready;
	}

	#queue(response: HttpResponse): void {
		const given = response.body;
		const body = typeof given === "string" || (given !== undefined && "part" in given) ? new Utf8Body(given) : given ?? new Uint8Array(0);
		let head = `HTTP/1.1 ${response.status} ${reasons[response.status] ?? "Status"}\r\n`;
		for (const [name, value] of response.headers ?? []) head += `${name}: ${value}\r\n`;
		head += `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
		this.#output = body.length ? [encodeUtf8(head), body] : [encodeUtf8(head)];
		this.#sent = 0;
		this.#state = State.Sending;
	}
}

/**
 * A string body, or one made of parts, encoded a slice at a time as the
 * socket takes it: never in RAM as a string and as bytes at once, and a
 * body of parts never whole. Slices are asked for in order, as
 * pollTransmit does.
 */
class Utf8Body implements BodySource {
	readonly #text: string | TextParts;
	readonly length: number;
	/** The part being written, and where in it the previous slice stopped. */
	#index = 0;
	#current: string | undefined = undefined;
	readonly #cursor: Utf8Cursor = { index: 0, taken: 0 };

	constructor(text: string | TextParts) {
		this.#text = text;
		let length = 0;
		const count = typeof text === "string" ? 1 : text.count;
		for (let i = 0; i < count; i++) {
			const size = utf8Length(this.#part(i));
			if (size < 0) throw new TypeError("string is not valid Unicode (lone surrogate)");
			length += size;
		}
		this.length = length;
	}

	slice(start: number, end: number): Uint8Array {
		const bytes = new Uint8Array(end - start);
		const cursor = this.#cursor;
		let offset = 0;
		while (offset < bytes.length) {
			const part = this.#current ??= this.#part(this.#index);
			offset = writeUtf8(part, bytes, offset, cursor);
			if (cursor.index >= part.length) {
				this.#index++;
				this.#current = undefined;
				cursor.index = 0;
				cursor.taken = 0;
			}
		}
		return bytes;
	}

	#part(index: number): string {
		const text = this.#text;
		if (index >= (typeof text === "string" ? 1 : text.count)) throw new Error("a body grew after its length was counted");
		return typeof text === "string" ? text : text.part(index);
	}
}

/** A JSON answer's headers. */
export const jsonHeaders: readonly (readonly [string, string])[] = [["Content-Type", "application/json"], ["Cache-Control", "no-store"]];

/** A JSON error body, {"error": reason}, which the page shows as it is. */
export function errorResponse(status: number, reason: string, headers: readonly (readonly [string, string])[] = []): HttpResponse {
	return { status, headers: headers.length ? [...jsonHeaders, ...headers] : jsonHeaders, body: JSON.stringify({ error: reason }) };
}

export function jsonResponse(status: number, value: unknown): HttpResponse {
	return { status, headers: jsonHeaders, body: JSON.stringify(value) };
}

/** Index of the CRLFCRLF that ends the head, searching from `from`; -1 if absent. */
function findBlankLine(bytes: Uint8Array, from: number): number {
	for (let i = from; i + 3 < bytes.length; i++) {
		if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) return i;
	}
	return -1;
}
