/*
 * The engine bench's wire: an ECMA-419 TCP socket that both MQTT clients
 * are given (ours and Moddable's), the broker's packets built by hand, and a
 * reader for what a client wrote. Built here, not from mqtt/codec, so the
 * bench measures the client and nothing else, and does not depend on how the
 * codec is split.
 */

/** What an ECMA-419 socket's owner hands it. */
export interface SocketCallbacks {
	onReadable(count: number): void;
	onWritable(count: number): void;
	onError(message?: string): void;
}

/** lwIP's default free send buffer on the ESP32. */
export const sendBuffer = 5744;

/**
 * One TCP connection, with the rules of Moddable's ECMA-419 TCP socket
 * (modules/io/socket/lwip/tcp.c), constructed as `embedded:io/socket/tcp`
 * is: `new BenchSocket({ onReadable, onWritable, onError, ... })`.
 *
 * - `write` takes whole or partial packets (Moddable's client writes a
 *   packet in fragments with `more`) and answers the send buffer left;
 *   past it, "would block", nothing taken. The buffer comes back whole with
 *   the next `onWritable`, which `deliver` (the broker's packet carries the
 *   TCP acknowledgement of what was sent) and `acknowledge` call, after
 *   `onReadable`, as tcpDeliver does in one turn.
 * - `read` serves what the broker last sent: into a buffer, exactly its
 *   length, returning the count (ours); a count or all, as an ArrayBuffer
 *   (Moddable's, for payloads); one byte in number format. Nothing there:
 *   undefined. More than there is: "invalid".
 *
 * Every socket opened and not closed is in `BenchSocket.open`, so the
 * harness can tell that no other rig's socket is alive.
 */
export class BenchSocket {
	static readonly open = new Set<BenchSocket>();
	format: "buffer" | "number" = "buffer";
	readonly callbacks: SocketCallbacks;
	/** Bytes written since the last `take()`, kept only while capturing (not while metered). */
	capture: number[] | undefined = [];
	/** The send buffer left until the next onWritable. */
	budget = 0;
	#input: Uint8Array = new Uint8Array(0);
	#position = 0;

	constructor(callbacks: SocketCallbacks) {
		this.callbacks = callbacks;
		BenchSocket.open.add(this);
	}

	/** The connection is up: the first onWritable, with the whole send buffer. */
	connected(): void {
		this.budget = sendBuffer;
		this.callbacks.onWritable(sendBuffer);
	}

	write(data: ArrayBufferLike | ArrayBufferView, _options?: object): number {
		const length = data.byteLength;
		if (length > this.budget) throw new Error("would block");
		if (this.capture) {
			const bytes = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, length) : new Uint8Array(data);
			for (let i = 0; i < length; i++) this.capture.push(bytes[i]!);
		}
		return this.budget -= length;
	}

	read(into: Uint8Array): number;
	read(count?: number): ArrayBuffer | undefined;
	read(count?: number | Uint8Array): ArrayBuffer | number | undefined {
		const position = this.#position;
		const input = this.#input;
		const available = input.length - position;
		if (available <= 0) return undefined;
		if (this.format === "number") {
			this.#position = position + 1;
			return input[position] as unknown as ArrayBuffer;
		}
		if (typeof count === "object") {
			const length = count.length;
			if (length > available || length === 0) throw new Error("invalid");
			count.set(position === 0 && length === input.length ? input : input.subarray(position, position + length));
			this.#position = position + length;
			return length;
		}
		const length = count === undefined ? available : count;
		if (!(length > 0 && length <= available)) throw new Error("invalid");
		this.#position = position + length;
		return (input.buffer as ArrayBuffer).slice(input.byteOffset + position, input.byteOffset + position + length);
	}

	close(): void {
		BenchSocket.open.delete(this);
	}

	/** The broker sends a chunk, which acknowledges at TCP what was written before it. */
	deliver(bytes: Uint8Array): void {
		this.#input = bytes;
		this.#position = 0;
		this.callbacks.onReadable(bytes.length);
		this.acknowledge();
	}

	/** The broker's TCP acknowledges what was written: the send buffer is whole again, announced by onWritable. */
	acknowledge(): void {
		if (this.budget === sendBuffer || !BenchSocket.open.has(this)) return;
		this.budget = sendBuffer;
		this.callbacks.onWritable(sendBuffer);
	}

	/** Everything captured since the last call, as packets. */
	take(): WrittenPacket[] {
		const bytes = Uint8Array.from(this.capture ?? []);
		if (this.capture) this.capture.length = 0;
		return readPackets(bytes);
	}
}

export interface WrittenPacket {
	type: number;
	flags: number;
	/** The variable header and payload. */
	body: Uint8Array;
	/** PUBLISH topic, when it is one. */
	topic?: string;
	/** Packet id of a PUBLISH at QoS 1/2, a SUBSCRIBE or an ack. */
	id?: number;
	/** PUBLISH payload. */
	payload?: Uint8Array;
}

export function readPackets(bytes: Uint8Array): WrittenPacket[] {
	const packets: WrittenPacket[] = [];
	let i = 0;
	while (i < bytes.length) {
		const first = bytes[i++]!;
		let length = 0, shift = 0, byte: number;
		do {
			byte = bytes[i++]!;
			length += (byte & 0x7f) << shift;
			shift += 7;
		} while (byte & 0x80);
		const body = bytes.subarray(i, i + length);
		if (body.length !== length) throw new Error(`a written packet is cut short (${body.length} of ${length} bytes)`);
		i += length;
		const packet: WrittenPacket = { type: first >> 4, flags: first & 15, body };
		if (packet.type === 3) {
			const topicLength = (body[0]! << 8) | body[1]!;
			packet.topic = String.fromCharCode(...body.subarray(2, 2 + topicLength));
			let at = 2 + topicLength;
			if ((packet.flags >> 1) & 3) {
				packet.id = (body[at]! << 8) | body[at + 1]!;
				at += 2;
			}
			packet.payload = body.subarray(at);
		} else if (packet.type !== 1 && packet.type !== 12 && packet.type !== 14) {
			packet.id = (body[0]! << 8) | body[1]!;
		}
		packets.push(packet);
	}
	return packets;
}

function ascii(text: string): number[] {
	return Array.from(text, (c) => c.charCodeAt(0));
}

/** The broker's packets, as bytes on the wire. */
export const broker = {
	connack: (): Uint8Array => Uint8Array.of(0x20, 2, 0, 0),
	puback: (id: number): Uint8Array => Uint8Array.of(0x40, 2, id >> 8, id & 0xff),
	suback: (id: number, qos: number): Uint8Array => Uint8Array.of(0x90, 3, id >> 8, id & 0xff, qos),
	publish(topic: string, payload: string, qos: number, id = 0): Uint8Array {
		const variable = [topic.length >> 8, topic.length & 0xff, ...ascii(topic), ...(qos ? [id >> 8, id & 0xff] : []), ...ascii(payload)];
		if (variable.length > 127) throw new Error("bench packets stay under 128 bytes");
		return Uint8Array.from([0x30 | (qos << 1), variable.length, ...variable]);
	},
};

/** PUBACKs for every packet id, made beforehand so that the metered loop only delivers them. */
export function pubacks(): Uint8Array[] {
	const acks: Uint8Array[] = [new Uint8Array(0)];
	for (let id = 1; id <= 65535; id++) acks.push(broker.puback(id));
	return acks;
}

/** The id after `id`, as both clients count: 1 to 65,535, then 1 again. */
export function nextId(id: number): number {
	return id === 65535 ? 1 : id + 1;
}
