/*
 * MQTT 3.1.1 packet codec (layer 1): packet objects to bytes and back.
 *
 * Encoding checks the application's arguments and throws a specific
 * TypeError or RangeError. Decoding never throws: a malformed packet
 * decodes to a string naming the broken rule, which the session reports
 * before closing the connection.
 *
 * Only what the device needs is here. A PUBLISH is written in one module,
 * mqtt/publish-buffers (the general encoder and the small-frame writer),
 * into a caller's buffer from pre-encoded topic bytes, so a steady stream
 * of readings allocates nothing. The broker's half, and encoding any packet from its
 * fields, live with the tests (test/lib/broker-codec).
 */
import {
	PacketType, type AckPacket, type ConnackPacket, type ConnectPacket, type Packet, type QoS,
	type SubackPacket, type Subscription, type SubscribePacket, type UnsubscribePacket,
} from "mqtt/packets";
import { decodeUtf8, encodeUtf8, mqttStringProblem } from "utf8";
import type { Utf8Decoder } from "platform";
import { validateTopicFilter, validateTopicName } from "mqtt/topic";

/** The largest remaining length four bytes can express (2.2.3). */
export const maxRemainingLength = 268435455;

// ---------------------------------------------------------------- encoding

/** Bytes the remaining-length field takes for `length`. */
export function varintLength(length: number): number {
	return length < 128 ? 1 : length < 16384 ? 2 : length < 2097152 ? 3 : 4;
}

/** Writes `length` as a remaining-length field at `offset`; returns the offset after it. */
export function writeVarint(target: Uint8Array, offset: number, length: number): number {
	do {
		let byte = length & 0x7f;
		length >>>= 7;
		if (length > 0) byte |= 0x80;
		target[offset++] = byte;
	} while (length > 0);
	return offset;
}

/** Exported for the tests' encoder of the packets the device never builds from arguments. */
export function checkPacketId(id: unknown): number {
	if (typeof id !== "number" || !Number.isInteger(id) || id < 1 || id > 65535) {
		throw new RangeError(`packet id must be an integer 1-65535, got ${String(id)}`);
	}
	return id;
}

export function checkQoS(qos: unknown): QoS {
	if (qos !== 0 && qos !== 1 && qos !== 2) throw new RangeError(`QoS must be 0, 1 or 2, got ${String(qos)}`);
	return qos;
}

/** A binary field: bytes, and no more than `max` of them. */
export function checkBytes(bytes: unknown, what: string, max = 65535): Uint8Array {
	if (!(bytes instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`);
	if (bytes.length > max) throw new RangeError(`${what} is ${bytes.length} bytes; at most ${max} are allowed`);
	return bytes;
}

/** A string field in UTF-8, once its check found no `problem`; a problem is thrown as a TypeError. */
function checked(problem: string | undefined, text: string): Uint8Array {
	if (problem) throw new TypeError(problem);
	return encodeUtf8(text);
}

/** Encoded size of a PUBLISH, for outbox accounting and buffer sizing. */
export function publishSize(topicLength: number, payloadLength: number, qos: number): number {
	const remaining = 2 + topicLength + (qos > 0 ? 2 : 0) + payloadLength;
	return 1 + varintLength(remaining) + remaining;
}

/**
 * A packet from its first byte and its fields, in order: a number is one
 * byte, bytes go with their two-byte length.
 */
function assemble(first: number, fields: (number | Uint8Array)[]): Uint8Array {
	let remaining = 0;
	for (const field of fields) remaining += typeof field === "number" ? 1 : 2 + field.length;
	if (remaining > maxRemainingLength) throw new RangeError(`${typeNames[first >> 4]} needs ${remaining} bytes; MQTT allows at most ${maxRemainingLength}`);
	const bytes = new Uint8Array(1 + varintLength(remaining) + remaining);
	bytes[0] = first;
	let offset = writeVarint(bytes, 1, remaining);
	for (const field of fields) {
		if (typeof field === "number") {
			bytes[offset++] = field;
		} else {
			bytes[offset] = field.length >> 8;
			bytes[offset + 1] = field.length & 0xff;
			bytes.set(field, offset + 2);
			offset += 2 + field.length;
		}
	}
	return bytes;
}

function encodeConnect(packet: ConnectPacket): Uint8Array {
	const { clientId, keepalive, will, username, password } = packet;
	// Protocol name "MQTT", level 4, the flags (below), keepalive, client id.
	const fields: (number | Uint8Array)[] = [Uint8Array.of(0x4d, 0x51, 0x54, 0x54), 4, 0, keepalive >> 8, keepalive & 0xff, checked(mqttStringProblem(clientId, "client id"), clientId)];
	if (!Number.isInteger(keepalive) || keepalive < 0 || keepalive > 65535) throw new RangeError(`keepalive must be 0-65535 seconds, got ${keepalive}`);
	let flags = packet.cleanSession ? 0x02 : 0;
	if (will) {
		const problem = validateTopicName(will.topic);
		fields.push(checked(problem && `will ${problem}`, will.topic), checkBytes(will.payload, "will payload"));
		flags |= 0x04 | (checkQoS(will.qos) << 3) | (will.retain ? 0x20 : 0);
	}
	if (username !== undefined) {
		fields.push(checked(mqttStringProblem(username, "user name"), username));
		flags |= 0x80;
	}
	if (password !== undefined) {
		if (username === undefined) throw new TypeError("a password needs a user name in MQTT 3.1.1");
		fields.push(checkBytes(password, "password"));
		flags |= 0x40;
	}
	fields[2] = flags;
	return assemble(PacketType.Connect << 4, fields);
}

/** SUBSCRIBE (filters and their QoS) and UNSUBSCRIBE (filters). */
function encodeFilters(packet: SubscribePacket | UnsubscribePacket): Uint8Array {
	const id = checkPacketId(packet.packetId);
	const subscribe = packet.type === PacketType.Subscribe;
	const list: unknown = subscribe ? packet.subscriptions : packet.filters;
	if (!Array.isArray(list) || list.length === 0) throw new TypeError(`${typeNames[packet.type]} needs at least one topic filter`);
	const fields: (number | Uint8Array)[] = [id >> 8, id & 0xff];
	for (const item of list as (Subscription | string)[]) {
		const filter = typeof item === "object" ? item.filter : item;
		fields.push(checked(validateTopicFilter(filter), filter));
		if (typeof item === "object") fields.push(checkQoS(item.qos));
	}
	return assemble((packet.type << 4) | 0x02, fields);
}

/** PINGREQ and DISCONNECT never change: one copy each, never written to. */
export const pingreqPacket: Uint8Array = Uint8Array.of(PacketType.Pingreq << 4, 0);
export const disconnectPacket: Uint8Array = Uint8Array.of(PacketType.Disconnect << 4, 0);

/** PUBACK, PUBREC, PUBREL (flags 0b0010), PUBCOMP: four bytes, into `target`. */
export function encodeAckInto(target: Uint8Array, type: number, packetId: number): Uint8Array {
	target[0] = (type << 4) | (type === PacketType.Pubrel ? 0x02 : 0);
	target[1] = 2;
	target[2] = packetId >> 8;
	target[3] = packetId & 0xff;
	return target;
}

/**
 * Encodes the packets a client builds from the application's arguments,
 * CONNECT, SUBSCRIBE and UNSUBSCRIBE; throws a TypeError or RangeError
 * naming a bad field. A PUBLISH goes out through mqtt/publish-buffers, an
 * acknowledgement through encodeAckInto, PINGREQ and DISCONNECT are the
 * constants above; the broker's packets, and any packet from its fields,
 * are encoded by the tests' codec (test/lib/broker-codec), not on the device.
 */
export function encode(packet: Packet): Uint8Array {
	if (packet.type === PacketType.Connect) return encodeConnect(packet);
	if (packet.type === PacketType.Subscribe || packet.type === PacketType.Unsubscribe) return encodeFilters(packet);
	throw new TypeError(`encode takes CONNECT, SUBSCRIBE or UNSUBSCRIBE, not packet type ${String((packet as { type: unknown }).type)}`);
}

// ---------------------------------------------------------------- decoding

const typeNames = "reserved CONNECT CONNACK PUBLISH PUBACK PUBREC PUBREL PUBCOMP SUBSCRIBE SUBACK UNSUBSCRIBE UNSUBACK PINGREQ PINGRESP DISCONNECT reserved".split(" ");

/** The name of packet type 0-15. */
export function packetTypeName(type: number): string {
	return typeNames[type]!;
}

/** Checks a fixed header's first byte; returns the broken rule, or undefined. PUBLISH's flags are its own: decodePublishInto checks them. */
export function checkFixedHeader(first: number): string | undefined {
	const type = first >> 4, flags = first & 0x0f;
	if (type === 0 || type === 15) return `packet type ${type} is reserved`;
	// 0b0010 for PUBREL, SUBSCRIBE and UNSUBSCRIBE (types 6, 8, 10), 0 for the others (2.2.2).
	const required = (0xa80 >> type) & 2;
	if (type !== PacketType.Publish && flags !== required) return `${typeNames[type]} fixed header flags must be ${required}, got ${flags}`;
	return undefined;
}

/** Why a packet id of 0 is refused, after the packet's name. */
const zeroPacketId = " packet id must not be 0";

/**
 * Decodes the body of a packet a client receives, other than PUBLISH
 * (decodePublishInto): `first` is the fixed header's first byte, already
 * checked (checkFixedHeader), and bytes[start, end) the remaining length.
 * Returns the packet, or the broken rule as a string.
 */
export function decodePacket(first: number, bytes: Uint8Array, start: number, end: number): Packet | string {
	const type = first >> 4, name = typeNames[type]!, length = end - start;
	if (type === PacketType.Suback) {
		if (length < 3) return "SUBACK must carry a packet id and at least one return code";
	} else if ((0x28f4 >> type) & 1) {
		// CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP and UNSUBACK carry two bytes, PINGRESP none.
		const required = type === PacketType.Pingresp ? 0 : 2;
		if (length !== required) return `${name} remaining length must be ${required}, got ${length}`;
		if (required === 0) return { type } as Packet;
	} else {
		// Only a client sends these; the tests' broker decodes them (test/lib/broker-codec).
		return `a client must not receive ${name}`;
	}
	const high = bytes[start]!, low = bytes[start + 1]!;
	if (type === PacketType.Connack) {
		if (high & 0xfe) return "CONNACK reserved flag bits must be 0";
		if (low > 5) return `CONNACK return code ${low} is reserved`;
		if (low !== 0 && high) return "CONNACK session present must be 0 when the connection is refused";
		return { type, sessionPresent: high === 1, returnCode: low } satisfies ConnackPacket;
	}
	const packetId = (high << 8) | low;
	if (packetId === 0) return name + zeroPacketId;
	if (type !== PacketType.Suback) return { type, packetId } as AckPacket;
	const returnCodes: number[] = [];
	for (let i = start + 2; i < end; i++) {
		const code = bytes[i]!;
		if (code > 2 && code !== 0x80) return `SUBACK return code ${code} is not 0, 1, 2 or 0x80`;
		returnCodes.push(code);
	}
	return { type, packetId, returnCodes } satisfies SubackPacket;
}

/**
 * An inbound PUBLISH, decoded. The parser fills one record and reuses it for
 * every message, so the hot path allocates nothing but the payload view.
 */
export interface InboundPublish {
	topic: string;
	/** A view into the received bytes: valid during delivery only. */
	payload: Uint8Array;
	qos: QoS;
	retain: boolean;
	dup: boolean;
	/** 0 at QoS 0. */
	packetId: number;
	/**
	 * The last topic that passed the wildcard and U+0000 check. Brokers send
	 * the same few topics again and again, and comparing equal strings costs
	 * far less than scanning one.
	 */
	checkedTopic: string;
	/** Longest topic accepted, in bytes: a limit of ours, below MQTT's 65,535. */
	maxTopicBytes: number;
	/** Set when the last decode refused the message for a limit of ours, not a rule of MQTT: it is skipped, not fatal. */
	overLimit: boolean;
}

export function inboundPublishRecord(maxTopicBytes = 65535): InboundPublish {
	return { topic: "", payload: new Uint8Array(0), qos: 0, retain: false, dup: false, packetId: 0, checkedTopic: "", maxTopicBytes, overLimit: false };
}

// One test for the characters a topic name may not hold.

/**
 * The rules of an inbound PUBLISH, in one place: `decode` and the streaming
 * parser both use it. Fills `into` and returns undefined, or returns the
 * broken rule and leaves the message fields of `into` as they were.
 *
 * The topic is the hot spot. A native decoder turns its bytes into a string
 * in a few XS units, where a JS loop costs about 25 a byte. It replaces
 * malformed UTF-8 with U+FFFD instead of throwing, because a try block
 * costs more than the rest of the check. A topic equal to the last one that
 * passed every rule and holds no U+FFFD needs no further check: its bytes
 * were valid UTF-8, free of wildcards and U+0000.
 */
export function decodePublishInto(first: number, bytes: Uint8Array, start: number, end: number, utf8: Utf8Decoder | undefined, into: InboundPublish): string | undefined {
	const qos = (first >> 1) & 3;
	if (qos === 3) return "PUBLISH with QoS 3 is malformed";
	const dup = (first & 0x08) !== 0;
	if (qos === 0 && dup) return "PUBLISH with QoS 0 must not set DUP";
	if (end - start < 2) return "PUBLISH is too short for its topic length";
	const topicLength = (bytes[start]! << 8) | bytes[start + 1]!;
	const topicEnd = start + 2 + topicLength;
	if (topicEnd + (qos > 0 ? 2 : 0) > end) return "PUBLISH topic length runs past the packet";
	if (topicLength === 0) return "PUBLISH topic must not be empty";
	let offset = topicEnd, packetId = 0;
	if (qos > 0) {
		packetId = (bytes[offset]! << 8) | bytes[offset + 1]!;
		if (packetId === 0) return "PUBLISH" + zeroPacketId;
		offset += 2;
	}
	const topic = utf8 ? utf8.decode(bytes.subarray(start + 2, topicEnd)) : decodeUtf8(bytes, start + 2, topicEnd);
	if (topic !== into.checkedTopic) {
		// Only a new topic can be too long: the one checked last was not. Such a PUBLISH
		// is well-formed, and keeps its QoS and packet id so that it can still be
		// acknowledged, or a broker would hold it unacknowledged forever.
		if (topicLength > into.maxTopicBytes) {
			into.qos = qos as QoS;
			into.packetId = packetId;
			into.overLimit = true;
			return `PUBLISH topic of ${topicLength} bytes exceeds the limit of ${into.maxTopicBytes}`;
		}
		// The slow path of the topic check, for a topic not seen just before.
		// U+FFFD may stand for malformed bytes: only the strict decoder can tell.
		if (topic === undefined || (topic.indexOf("\ufffd") >= 0 && decodeUtf8(bytes, start + 2, topicEnd) === undefined)) {
			return "PUBLISH topic is not valid UTF-8 or contains U+0000";
		}
		if (topic.indexOf("#") >= 0 || topic.indexOf("+") >= 0 || topic.indexOf("\u0000") >= 0) {
			return topic.indexOf("\u0000") >= 0 ? "PUBLISH topic must not contain U+0000" : "PUBLISH topic must not contain wildcards";
		}
		if (topic.indexOf("\ufffd") < 0) into.checkedTopic = topic;
	}
	into.topic = topic as string; // refused above when undefined
	into.payload = bytes.subarray(offset, end);
	into.qos = qos as QoS;
	into.packetId = packetId;
	into.retain = (first & 1) !== 0;
	into.dup = dup;
	return undefined;
}
