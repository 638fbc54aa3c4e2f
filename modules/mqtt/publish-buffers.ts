/*
 * The one place an outbound PUBLISH is written: the frame's layout, the
 * topics the application publishes to (encoded once), and the buffers the
 * bytes go into, so that sending allocates nothing. Two writers share the
 * layout: `encodePublishInto`, any PUBLISH into a caller's buffer, and
 * `writeSmallPublish`, a small one into its topic's prepared buffer, where
 * only the header, the packet id and the payload change. The session
 * decides what goes out and when. Bytes handed out stay untouched until
 * the next write, which is as long as the driver needs them (it writes a
 * packet wholly before asking for the next).
 */
import type { QoS } from "mqtt/packets";
import { writeVarint } from "mqtt/codec";
import { validateTopicName } from "mqtt/topic";
import { encodeUtf8 } from "utf8";

/**
 * The PUBLISH encoder: writes a PUBLISH into `target` and returns its
 * length, or -1 if it does not fit. Arguments are trusted: the client
 * validated the topic once when it encoded `topic`, and checks the rest.
 */
export function encodePublishInto(target: Uint8Array, topic: Uint8Array, payload: Uint8Array, qos: number, retain: boolean, dup: boolean, packetId: number): number {
	const topicLength = topic.length;
	const remaining = 2 + topicLength + (qos > 0 ? 2 : 0) + payload.length;
	const total = 1 + (remaining < 128 ? 1 : remaining < 16384 ? 2 : remaining < 2097152 ? 3 : 4) + remaining;
	if (total > target.length) return -1;
	target[0] = 0x30 | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 1 : 0);
	let offset = remaining < 128 ? (target[1] = remaining, 2) : writeVarint(target, 1, remaining);
	target[offset] = topicLength >> 8;
	target[offset + 1] = topicLength & 0xff;
	target.set(topic, offset + 2);
	offset += 2 + topicLength;
	if (qos > 0) {
		target[offset] = packetId >> 8;
		target[offset + 1] = packetId & 0xff;
		offset += 2;
	}
	target.set(payload, offset);
	return total;
}

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
 * written into its topic's prepared buffer (made here the first time, by
 * `encodePublishInto`, with the topic in place), and the view of its
 * `size` (publishSize's). `first` is the fixed header's first byte (type,
 * DUP, QoS, retain); the packet id goes just before the payload when QoS
 * is above 0.
 */
export function writeSmallPublish(prepared: PreparedTopic, first: number, packetId: number, payload: Uint8Array, size: number): Uint8Array {
	let buffer = prepared.buffer;
	if (buffer === undefined) {
		buffer = prepared.buffer = new Uint8Array(2 + 127);
		encodePublishInto(buffer, prepared.bytes, buffer.subarray(0, 0), 0, false, false, 0);
	}
	const start = size - payload.length;
	buffer[0] = first;
	buffer[1] = size - 2;
	if (first & 0x06) {
		buffer[start - 2] = packetId >> 8;
		buffer[start - 1] = packetId & 0xff;
	}
	buffer.set(payload, start);
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
