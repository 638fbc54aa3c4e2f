/*
 * The limits every simulated socket enforces, in one place: the Node
 * host's, the XS host simulator's and the tests' fake hosts'. Moddable's
 * ECMA-419 sockets are the model, so a simulator is never kinder than the
 * board: a write past what the last onWritable(count) announced throws
 * "would block" and takes nothing (WritableBudget; over TLS, each write a
 * record with its overhead: TlsRecordBudget), and a read follows the
 * TCP socket's rules (ReceivedBytes). When the budget comes back is each
 * simulator's own (a turn of Node's event loop, of the XS bridge, of the
 * virtual clock). Simulators only: a device's socket enforces its own, so
 * this never ships in the firmware.
 */

/**
 * What Moddable's lin TCP socket lets a write take per poll of its event
 * loop: kBufferSize, which it announces through onWritable once its last
 * write has gone ($MODDABLE/modules/io/socket/lin/tcp.c). The one source of
 * this figure for every simulated socket.
 */
export const linWriteBudget = 1536;

export class WritableBudget {
	/** Bytes the socket takes until the next onWritable. */
	left = 0;

	/** onWritable(count): the socket takes `count` bytes now (its whole budget, not an increment). */
	grant(count: number): void {
		this.left = count;
	}

	/** A write: the bytes as a view, taken from the budget; "would block", nothing taken, past it. */
	take(bytes: ArrayBufferLike | ArrayBufferView): Uint8Array {
		const view = ArrayBuffer.isView(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : new Uint8Array(bytes);
		this.spend(view.byteLength, view.byteLength);
		return view;
	}

	/** `cost` bytes of the budget for a write of `length`: "would block", nothing taken, past it. */
	protected spend(length: number, cost: number): void {
		if (cost > this.left) throw new Error(`would block: ${length} bytes written, ${this.left} announced`);
		this.left -= cost;
	}
}

/**
 * Moddable's ECMA-419 TLS socket over that TCP budget, as its sources do it
 * (examples/io/tcp/tlssocket, modules/crypt/ssl/session_419.js and
 * ssl_record.js): onWritable announces the TCP count less 96; each write is
 * one TLS record, its data plus the record's overhead taken from the TCP
 * count ("would block" past it, the record lost); and write returns the
 * TCP count left less 32. The record modelled is the costliest of Moddable's
 * suites, AES-CBC with HMAC-SHA256: a 5-byte header, a 16-byte explicit IV,
 * a 32-byte MAC and 1-16 bytes of padding, up to 69 bytes more than the
 * data. So a client that writes all a write returned can overrun: the
 * socket's host adapter must leave room for a record's overhead.
 */
export class TlsRecordBudget extends WritableBudget {
	#tcp = 0;

	override grant(count: number): void {
		this.#tcp = count;
		this.left = count > 96 ? count - 96 : 0;
	}

	protected override spend(length: number, _cost: number): void {
		const record = 5 + 16 + (((length + 32 + 1 + 15) >> 4) << 4);
		if (record > this.#tcp) throw new Error(`would block: a TLS record of ${record} bytes for ${length} written, ${this.#tcp} left of the TCP count`);
		this.#tcp -= record;
		this.left = Math.max(0, this.#tcp - 32);
	}
}

/**
 * Bytes received and not yet read, read as Moddable's ECMA-419 TCP socket
 * reads them (modules/io/socket/lwip/tcp.c, lin/tcp.c): into a buffer,
 * exactly its length, returning the count; or `count` bytes, all of them
 * when there is no argument, in a new ArrayBuffer. Nothing there: undefined.
 * Asking for more than there is throws "invalid", as the device does; so
 * does an undefined count (it is read as 0), so a wrapper must pass on its
 * arguments as it got them: `read(...request)`.
 */
export class ReceivedBytes {
	#chunks: Uint8Array[] = [];
	#available = 0;

	get available(): number {
		return this.#available;
	}

	/**
	 * Arrived bytes; kept by reference, so the caller hands over a copy it
	 * will not reuse. Returns what onReadable announces on Moddable: all the
	 * bytes held unread (lin/tcp.c `bytesReadable`, lwip/tcp.c the sum of its
	 * buffers), not the ones just arrived.
	 */
	push(bytes: Uint8Array): number {
		if (bytes.length) {
			this.#chunks.push(bytes);
			this.#available += bytes.length;
		}
		return this.#available;
	}

	read(into: Uint8Array): number;
	read(count?: number): ArrayBuffer | undefined;
	read(...request: unknown[]): ArrayBuffer | number | undefined {
		return this.readWith(request);
	}

	/** `read` with the arguments a socket's own `read(...request)` was given. */
	readWith(request: readonly unknown[]): ArrayBuffer | number | undefined {
		if (this.#available === 0) return undefined;
		const argument = request[0];
		const into = typeof argument === "object" && argument !== null;
		const target = into ? argument as Uint8Array : new Uint8Array(request.length === 0 ? this.#available : Number(argument) | 0);
		const wanted = target.length;
		if (!(wanted > 0 && wanted <= this.#available)) throw new Error("invalid");
		let filled = 0;
		while (filled < wanted) {
			const head = this.#chunks[0]!;
			const take = Math.min(head.length, wanted - filled);
			target.set(take === head.length ? head : head.subarray(0, take), filled);
			filled += take;
			if (take === head.length) this.#chunks.shift();
			else this.#chunks[0] = head.subarray(take);
		}
		this.#available -= wanted;
		return into ? wanted : target.buffer as ArrayBuffer;
	}
}
