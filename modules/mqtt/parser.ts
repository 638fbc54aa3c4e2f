/*
 * Streaming parser (layer 2): TCP hands over bytes in arbitrary pieces,
 * one byte at a time or many packets at once; this turns them into packets.
 *
 * A packet that arrives whole inside one chunk is decoded in place, with
 * its payload a view of that chunk: no copy. Only a packet split across
 * chunks is gathered into a buffer of its exact size, which the maximum
 * packet size bounds. An oversized packet is never allocated: it is
 * reported, then skipped byte by byte or treated as fatal.
 */
import type { Packet } from "mqtt/packets";
import type { Utf8Decoder } from "platform";
import { checkFixedHeader, decodePacket, decodePublishInto, inboundPublishRecord, packetTypeName, type InboundPublish } from "mqtt/codec";
import { decodeUtf8 } from "utf8";

/** Why a packet was skipped rather than delivered. */
export type SkipReason = "size" | "topic";

export interface ParserHandler {
	/** A decoded packet other than PUBLISH. */
	packet(packet: Packet): void;
	/**
	 * A PUBLISH, in a record the parser reuses for every message: the hot
	 * path allocates nothing but the payload view, valid only during this call.
	 */
	publish(message: InboundPublish): void;
	/**
	 * The stream broke a rule. `fatal` means the parser has stopped and the
	 * connection must close; otherwise a packet over one of our limits
	 * (`skipped`: its size, or its topic's length) was skipped and it goes on.
	 */
	error(rule: string, fatal: boolean, skipped?: SkipReason): void;
	/**
	 * A PUBLISH was skipped (oversized, or its topic over the limit) after
	 * `error`, for `rule`. At QoS 1 or 2 it still needs its acknowledgement,
	 * or the broker keeps it in flight for good and may stop sending. `topic`
	 * (undefined when over the limit or not UTF-8) says whose message it was,
	 * so the application can report what it refused.
	 */
	skipped(qos: 0 | 1 | 2, packetId: number, topic: string | undefined, rule: string): void;
}

export interface ParserOptions {
	/** Largest packet accepted, fixed header included, in bytes. */
	maxPacketSize: number;
	/** What an oversized packet does: skip it and go on, or stop. */
	oversize: "skip" | "close";
	/** Longest inbound topic accepted, bytes (default 65,535, MQTT's own limit). */
	maxTopicBytes?: number | undefined;
	/** The host's native UTF-8 decoder, if it has one. */
	utf8?: Utf8Decoder | undefined;
}

const enum State {
	Header,
	Length,
	Body,
	Skip,
	Failed,
}

export class PacketParser {
	readonly maxPacketSize: number;
	readonly oversize: "skip" | "close";
	readonly #handler: ParserHandler;
	readonly #utf8: Utf8Decoder | undefined;
	readonly #inbound: InboundPublish;
	#state = State.Header;
	#first = 0;
	#remaining = 0;
	#lengthBytes = 0;
	#body: Uint8Array | undefined;
	#filled = 0;
	#skip = 0;
	// An oversized PUBLISH being skipped: its topic and packet id are read on the way past,
	// then the rest is jumped. Its QoS, the body bytes passed, where its topic ends, the
	// field being read, the topic's bytes (none past the topic limit) and why it is skipped.
	#skipReading = false;
	#skipQos: 0 | 1 | 2 = 0;
	#skipPos = 0;
	#skipTopicEnd = 2;
	#skipField = 0;
	#skipTopic: Uint8Array | undefined;
	#skipRule = "";

	constructor(options: ParserOptions, handler: ParserHandler) {
		if (!(options.maxPacketSize >= 2)) throw new RangeError(`maxPacketSize must be at least 2 bytes, got ${options.maxPacketSize}`);
		if (options.oversize !== "skip" && options.oversize !== "close") throw new TypeError(`oversize must be "skip" or "close", got ${String(options.oversize)}`);
		this.maxPacketSize = options.maxPacketSize;
		this.oversize = options.oversize;
		this.#handler = handler;
		this.#utf8 = options.utf8;
		const maxTopicBytes = options.maxTopicBytes ?? 65535;
		if (!(Number.isInteger(maxTopicBytes) && maxTopicBytes >= 1 && maxTopicBytes <= 65535)) throw new RangeError(`maxTopicBytes must be 1-65535, got ${maxTopicBytes}`);
		this.#inbound = inboundPublishRecord(maxTopicBytes);
	}

	/** True once a fatal error stopped the parser; `reset()` starts it again. */
	get failed(): boolean {
		return this.#state === State.Failed;
	}

	/** True when the stream is at a packet boundary: nothing partial held, not failed. */
	get betweenPackets(): boolean {
		return this.#state === State.Header;
	}

	/** Bytes held for a packet split across chunks (never above maxPacketSize). */
	get buffered(): number {
		return this.#body ? this.#body.length : 0;
	}

	/**
	 * Stops parsing, at once: bytes after the current packet in the chunk
	 * being pushed are ignored. For a connection closed from inside a
	 * handler; `reset()` starts again.
	 */
	halt(): void {
		this.#state = State.Failed;
		this.#body = undefined;
	}

	/** Forgets any partial packet: call on every new connection. */
	reset(): void {
		this.#state = State.Header;
		this.#body = undefined;
		this.#filled = 0;
		this.#skip = 0;
		this.#skipReading = false;
		this.#skipTopic = undefined;
	}

	push(chunk: Uint8Array): void {
		let offset = 0;
		const length = chunk.length;
		while (offset < length) {
			switch (this.#state) {
				case State.Header: {
					// Fast path: a whole small packet inside the chunk, decoded in place.
					const first = chunk[offset]!;
					// PUBLISH checks its own flags; other types are checked here.
					if ((first & 0xf0) !== 0x30) {
						const problem = checkFixedHeader(first);
						if (problem) return this.#fail(problem);
					}
					if (offset + 1 < length) {
						const second = chunk[offset + 1]!;
						if (second < 0x80 && offset + 2 + second <= length) {
							if (2 + second > this.maxPacketSize) {
								this.#first = first;
								this.#remaining = second;
								if (!this.#oversized(2 + second)) return;
								offset += 2;
								break;
							}
							offset += 2;
							if ((first & 0xf0) === 0x30) {
								// The hot path, inlined: one inbound PUBLISH, decoded and handed over.
								const problem = decodePublishInto(first, chunk, offset, offset + second, this.#utf8, this.#inbound);
								if (problem === undefined) this.#handler.publish(this.#inbound);
								else if (!this.#refused(problem)) return;
								offset += second;
							} else {
								this.#deliver(first, chunk, offset, offset + second);
								offset += second;
							}
							// A handler may have halted us (the connection closed).
							if ((this.#state as State) === State.Failed) return;
							break;
						}
					}
					this.#first = first;
					this.#remaining = 0;
					this.#lengthBytes = 0;
					this.#state = State.Length;
					offset++;
					break;
				}
				case State.Length: {
					// The remaining length, seven bits a byte, least significant first (2.2.3).
					const byte = chunk[offset++]!;
					this.#remaining += (byte & 0x7f) << (7 * this.#lengthBytes++);
					if (byte & 0x80) {
						if (this.#lengthBytes === 4) return this.#fail("remaining length takes more than 4 bytes");
						break;
					}
					const size = 1 + this.#lengthBytes + this.#remaining;
					if (size > this.maxPacketSize) {
						if (!this.#oversized(size)) return;
						break;
					}
					if (length - offset >= this.#remaining) {
						// The body is all here (or there is none): decode in place.
						this.#state = State.Header;
						const end = offset + this.#remaining;
						this.#deliver(this.#first, chunk, offset, end);
						offset = end;
						if (this.failed) return;
					} else {
						this.#body = new Uint8Array(this.#remaining);
						this.#filled = 0;
						this.#state = State.Body;
					}
					break;
				}
				case State.Body: {
					const body = this.#body!;
					const take = Math.min(body.length - this.#filled, length - offset);
					body.set(chunk.subarray(offset, offset + take), this.#filled);
					this.#filled += take;
					offset += take;
					if (this.#filled === body.length) {
						this.#body = undefined;
						this.#state = State.Header;
						this.#deliver(this.#first, body, 0, body.length);
						if (this.failed) return;
					}
					break;
				}
				case State.Skip: {
					let take = Math.min(this.#skip, length - offset);
					if (this.#skipReading) take = this.#readSkipped(chunk, offset, take);
					this.#skip -= take;
					offset += take;
					if (this.#skip === 0) {
						this.#state = State.Header;
						this.#skipReading = false;
						this.#skipTopic = undefined;
					}
					if ((this.#state as State) === State.Failed) return;
					break;
				}
				case State.Failed:
					return;
			}
		}
	}

	/**
	 * Reads a skipped PUBLISH's topic length, topic and packet id on the way
	 * past, in any split, and reports it once they are read. Returns the
	 * bytes taken of the `available` at `offset`.
	 */
	#readSkipped(chunk: Uint8Array, offset: number, available: number): number {
		const pos = this.#skipPos;
		let take = 1;
		if (pos < 2) {
			this.#skipField = ((this.#skipField << 8) | chunk[offset]!) & 0xffff;
			if (pos === 1) {
				const topicLength = this.#skipField;
				this.#skipTopicEnd = 2 + topicLength;
				this.#skipTopic = topicLength <= this.#inbound.maxTopicBytes ? new Uint8Array(topicLength) : undefined;
				this.#skipField = 0;
			}
		} else if (pos < this.#skipTopicEnd) {
			take = Math.min(available, this.#skipTopicEnd - pos);
			this.#skipTopic?.set(chunk.subarray(offset, offset + take), pos - 2);
		} else {
			this.#skipField = ((this.#skipField << 8) | chunk[offset]!) & 0xffff;
		}
		const next = this.#skipPos = pos + take;
		if (next >= 2 && next === this.#skipTopicEnd + (this.#skipQos === 0 ? 0 : 2)) {
			this.#skipReading = false;
			const bytes = this.#skipTopic;
			this.#skipTopic = undefined;
			const topic = bytes === undefined ? undefined : this.#utf8 !== undefined ? this.#utf8.decode(bytes) : decodeUtf8(bytes, 0, bytes.length);
			// Packet id 0 is no packet id: there is nothing to acknowledge, and a broker sending it is already wrong.
			if (this.#skipQos === 0 || this.#skipField !== 0) this.#handler.skipped(this.#skipQos, this.#skipField, topic, this.#skipRule);
		}
		return take;
	}

	#deliver(first: number, bytes: Uint8Array, start: number, end: number): void {
		if ((first & 0xf0) === 0x30) {
			const problem = decodePublishInto(first, bytes, start, end, this.#utf8, this.#inbound);
			if (problem !== undefined) this.#refused(problem);
			else this.#handler.publish(this.#inbound);
			return;
		}
		const result = decodePacket(first, bytes, start, end);
		if (typeof result === "string") this.#fail(result);
		else this.#handler.packet(result);
	}

	/** A PUBLISH that decode refused: skipped if only over a limit of ours, else fatal. Returns false when the parser stopped. */
	#refused(problem: string): boolean {
		const inbound = this.#inbound;
		if (!inbound.overLimit) {
			this.#fail(problem);
			return false;
		}
		inbound.overLimit = false;
		this.#handler.error(problem, false, "topic");
		this.#handler.skipped(inbound.qos, inbound.packetId, undefined, problem);
		return this.#state !== State.Failed;
	}

	/** Returns false when the parser stopped. */
	#oversized(size: number): boolean {
		const rule = `${packetTypeName(this.#first >> 4)} of ${size} bytes exceeds the maximum packet size of ${this.maxPacketSize}`;
		if (this.oversize === "close") {
			this.#fail(rule);
			return false;
		}
		this.#skip = this.#remaining;
		this.#state = this.#skip > 0 ? State.Skip : State.Header;
		const qos = (this.#first >> 1) & 3;
		// A PUBLISH's topic and id are read on the way past; QoS 3 is malformed, and simply skipped.
		this.#skipReading = this.#skip > 0 && (this.#first & 0xf0) === 0x30 && qos !== 3;
		this.#skipQos = qos === 3 ? 0 : qos as 0 | 1 | 2;
		this.#skipPos = 0;
		this.#skipTopicEnd = 2;
		this.#skipField = 0;
		this.#skipTopic = undefined;
		this.#skipRule = rule;
		this.#handler.error(rule, false, "size");
		return true;
	}

	#fail(rule: string): void {
		this.#state = State.Failed;
		this.#body = undefined;
		this.#handler.error(rule, true);
	}
}
