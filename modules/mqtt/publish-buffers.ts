/*
 * Where an outbound PUBLISH's bytes live: the topics the application
 * publishes to, encoded once, and one small scratch buffer with views of
 * it by size, so that sending allocates nothing. The session decides what
 * goes out and when; this only says where its bytes are written. Bytes
 * handed out stay untouched until the next encode, which is as long as the
 * driver needs them (it writes a packet wholly before asking for the next).
 */
import type { QoS } from "mqtt/packets";
import { encodePublishInto, smallPublishBuffer } from "mqtt/codec";
import { validateTopicName } from "mqtt/topic";
import { encodeUtf8 } from "utf8";

/** A topic the application publishes to, encoded once. */
export interface PreparedTopic {
	bytes: Uint8Array;
	/** Remaining length before the payload, at QoS 0: the topic and its length. */
	remainingBase: number;
	/** Made on the first small PUBLISH (writeSmallPublish): header and topic already in place. */
	buffer: Uint8Array | undefined;
	/** Views of `buffer` by packet size, so writing needs no new view: an array, whose index costs less than a Map's get. */
	views: (Uint8Array | undefined)[];
}

/**
 * The small-frame writer: a PUBLISH whose remaining length is under 128,
 * written into its topic's prepared buffer (made here the first time), and
 * the view of its `size` (publishSize's). `first` is the fixed header's
 * first byte (type, DUP, QoS, retain); the packet id is written when its
 * QoS is above 0. The topic and its length are in place already, so only
 * these bytes change: the layout is `smallPublishBuffer`'s, the codec's
 * own encoder.
 */
export function writeSmallPublish(prepared: PreparedTopic, first: number, packetId: number, payload: Uint8Array, size: number): Uint8Array {
	const buffer = prepared.buffer ?? (prepared.buffer = smallPublishBuffer(prepared.bytes));
	const base = prepared.remainingBase;
	buffer[0] = first;
	buffer[1] = size - 2;
	if (first & 0x06) {
		buffer[base + 2] = packetId >> 8;
		buffer[base + 3] = packetId & 0xff;
		buffer.set(payload, base + 4);
	} else {
		buffer.set(payload, base + 2);
	}
	return prepared.views[size] ?? (prepared.views[size] = buffer.subarray(0, size));
}

/** Topics kept encoded: a device publishes to a handful; the oldest goes first past this. */
const topicCacheSize = 16;

export class PublishBuffers {
	/** Prepared topics by name; read directly on the hot path, as a call would cost more than the lookup. */
	readonly topics = new Map<string, PreparedTopic>();
	// One scratch buffer for packets up to its size, and views of it by length.
	readonly #scratch = new Uint8Array(256);
	readonly #views = new Map<number, Uint8Array>();

	/** Checks and encodes a topic name, once; throws on a bad one (the application's error). */
	prepare(topic: string): PreparedTopic {
		const problem = validateTopicName(topic);
		if (problem) throw new TypeError(problem);
		const bytes = encodeUtf8(topic);
		const prepared: PreparedTopic = { bytes, remainingBase: 2 + bytes.length, buffer: undefined, views: [] };
		const topics = this.topics;
		if (topics.size >= topicCacheSize) topics.delete(topics.keys().next().value!);
		topics.set(topic, prepared);
		return prepared;
	}

	/** A PUBLISH of `size` bytes, in the scratch buffer, or in its own if larger. */
	encode(topic: Uint8Array, payload: Uint8Array, qos: QoS, retain: boolean, dup: boolean, packetId: number, size: number): Uint8Array {
		const buffer = this.#scratch;
		if (size > buffer.length) {
			// Rare large messages get their own buffer; the scratch stays small.
			const own = new Uint8Array(size);
			encodePublishInto(own, topic, payload, qos, retain, dup, packetId);
			return own;
		}
		encodePublishInto(buffer, topic, payload, qos, retain, dup, packetId);
		let view = this.#views.get(size);
		if (view === undefined) {
			if (this.#views.size >= 8) this.#views.clear();
			view = buffer.subarray(0, size);
			this.#views.set(size, view);
		}
		return view;
	}
}
