/*
 * MQTT 3.1.1 packet codec (layer 1): packet objects to bytes and back.
 *
 * Encoding checks the application's arguments and throws a specific
 * TypeError or RangeError. Decoding never throws: a malformed packet
 * decodes to a string naming the broken rule, which the session reports
 * before closing the connection.
 *
 * The publish path has its own entry point, `encodePublishInto`, which
 * writes into a caller's buffer from pre-encoded topic bytes, so a steady
 * stream of readings allocates nothing here.
 */
import {
	PacketType, type AckPacket, type ConnackPacket, type ConnectPacket, type Packet, type PublishPacket, type QoS,
	type SubackPacket, type SubscribePacket, type UnsubscribePacket,
} from "mqtt/packets";
import { decodeUtf8, utf8Length, writeUtf8 } from "mqtt/utf8";
import type { Utf8Decoder } from "platform";
import { validateTopicFilter, validateTopicName } from "mqtt/topic";

/** The largest remaining length four bytes can express (2.2.3). */
export const maxRemainingLength = 268435455;

// ---------------------------------------------------------------- encoding

/** Bytes the remaining-length field takes for `length`. */
export function varintLength(length: number): number {
	return length < 128 ? 1 : length < 16384 ? 2 : length < 2097152 ? 3 : 4;
}

function writeVarint(target: Uint8Array, offset: number, length: number): number {
	do {
		let byte = length & 0x7f;
		length >>>= 7;
		if (length > 0) byte |= 0x80;
		target[offset++] = byte;
	} while (length > 0);
	return offset;
}

function checkPacketId(id: unknown): number {
	if (typeof id !== "number" || !Number.isInteger(id) || id < 1 || id > 65535) {
		throw new RangeError(`packet id must be an integer 1-65535, got ${String(id)}`);
	}
	return id;
}

function checkQoS(qos: unknown): QoS {
	if (qos !== 0 && qos !== 1 && qos !== 2) throw new RangeError(`QoS must be 0, 1 or 2, got ${String(qos)}`);
	return qos;
}

function checkString(text: unknown, what: string): number {
	if (typeof text !== "string") throw new TypeError(`${what} must be a string`);
	const length = utf8Length(text);
	if (length < 0) throw new TypeError(`${what} is not valid UTF-8 (lone surrogate)`);
	if (length > 65535) throw new RangeError(`${what} is ${length} bytes; at most 65535 are allowed`);
	for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 0) throw new TypeError(`${what} must not contain U+0000`);
	return length;
}

function checkBytes(bytes: unknown, what: string, max = maxRemainingLength): Uint8Array {
	if (!(bytes instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`);
	if (bytes.length > max) throw new RangeError(`${what} is ${bytes.length} bytes; at most ${max} are allowed`);
	return bytes;
}

function checkRemaining(length: number, what: string): void {
	if (length > maxRemainingLength) throw new RangeError(`${what} needs ${length} bytes; MQTT allows at most ${maxRemainingLength}`);
}

/** Writes a two-byte big-endian length and the string; the caller checked it. */
function writeString(target: Uint8Array, offset: number, text: string, length: number): number {
	target[offset] = length >> 8;
	target[offset + 1] = length & 0xff;
	return writeUtf8(text, target, offset + 2);
}

function writeBinary(target: Uint8Array, offset: number, bytes: Uint8Array): number {
	target[offset] = bytes.length >> 8;
	target[offset + 1] = bytes.length & 0xff;
	target.set(bytes, offset + 2);
	return offset + 2 + bytes.length;
}

/** Encoded size of a PUBLISH, for outbox accounting and buffer sizing. */
export function publishSize(topicLength: number, payloadLength: number, qos: number): number {
	const remaining = 2 + topicLength + (qos > 0 ? 2 : 0) + payloadLength;
	return 1 + varintLength(remaining) + remaining;
}

/**
 * The publish hot path: writes a PUBLISH into `target` and returns its
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

/**
 * A buffer for small QoS 0 and 1 PUBLISHes on one topic (remaining length
 * under 128): the topic and its length in place, room for a payload. Each
 * message writes only byte 0, byte 1 (the remaining length), at QoS 1 its
 * packet id, and its payload.
 */
export function smallPublishBuffer(topic: Uint8Array): Uint8Array {
	const buffer = new Uint8Array(2 + 127);
	buffer[2] = topic.length >> 8;
	buffer[3] = topic.length & 0xff;
	buffer.set(topic, 4);
	return buffer;
}

function frame(type: number, flags: number, remaining: number): { bytes: Uint8Array; offset: number } {
	checkRemaining(remaining, "packet");
	const bytes = new Uint8Array(1 + varintLength(remaining) + remaining);
	bytes[0] = (type << 4) | flags;
	return { bytes, offset: writeVarint(bytes, 1, remaining) };
}

function encodeConnect(packet: ConnectPacket): Uint8Array {
	const clientIdLength = checkString(packet.clientId, "client id");
	const keepalive = packet.keepalive;
	if (!Number.isInteger(keepalive) || keepalive < 0 || keepalive > 65535) throw new RangeError(`keepalive must be 0-65535 seconds, got ${keepalive}`);
	let remaining = 10 + 2 + clientIdLength;
	let flags = packet.cleanSession ? 0x02 : 0;
	const will = packet.will;
	let willTopicLength = 0;
	if (will) {
		const problem = validateTopicName(will.topic);
		if (problem) throw new TypeError(`will ${problem}`);
		willTopicLength = utf8Length(will.topic);
		checkBytes(will.payload, "will payload", 65535);
		flags |= 0x04 | (checkQoS(will.qos) << 3) | (will.retain ? 0x20 : 0);
		remaining += 2 + willTopicLength + 2 + will.payload.length;
	}
	let usernameLength = 0;
	if (packet.username !== undefined) {
		usernameLength = checkString(packet.username, "user name");
		flags |= 0x80;
		remaining += 2 + usernameLength;
	}
	if (packet.password !== undefined) {
		if (packet.username === undefined) throw new TypeError("a password needs a user name in MQTT 3.1.1");
		checkBytes(packet.password, "password", 65535);
		flags |= 0x40;
		remaining += 2 + packet.password.length;
	}
	const { bytes, offset: start } = frame(PacketType.Connect, 0, remaining);
	let offset = start;
	// Protocol name "MQTT", level 4.
	bytes.set([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, flags, keepalive >> 8, keepalive & 0xff], offset);
	offset = writeString(bytes, offset + 10, packet.clientId, clientIdLength);
	if (will) {
		offset = writeString(bytes, offset, will.topic, willTopicLength);
		offset = writeBinary(bytes, offset, will.payload);
	}
	if (packet.username !== undefined) offset = writeString(bytes, offset, packet.username, usernameLength);
	if (packet.password !== undefined) writeBinary(bytes, offset, packet.password);
	return bytes;
}

function encodePublish(packet: PublishPacket): Uint8Array {
	const problem = validateTopicName(packet.topic);
	if (problem) throw new TypeError(problem);
	const qos = checkQoS(packet.qos);
	checkBytes(packet.payload, "payload");
	if (qos > 0) checkPacketId(packet.packetId);
	else if (packet.dup) throw new TypeError("a QoS 0 PUBLISH must not set DUP");
	const topicLength = utf8Length(packet.topic);
	const topic = new Uint8Array(topicLength);
	writeUtf8(packet.topic, topic, 0);
	const size = publishSize(topicLength, packet.payload.length, qos);
	checkRemaining(size - 5, "PUBLISH");
	const bytes = new Uint8Array(size);
	encodePublishInto(bytes, topic, packet.payload, qos, packet.retain, packet.dup, packet.packetId ?? 0);
	return bytes;
}

function encodeSubscribe(packet: SubscribePacket): Uint8Array {
	const id = checkPacketId(packet.packetId);
	if (!Array.isArray(packet.subscriptions) || packet.subscriptions.length === 0) throw new TypeError("SUBSCRIBE needs at least one topic filter");
	let remaining = 2;
	const lengths: number[] = [];
	for (const { filter, qos } of packet.subscriptions) {
		const problem = validateTopicFilter(filter);
		if (problem) throw new TypeError(problem);
		checkQoS(qos);
		const length = utf8Length(filter);
		lengths.push(length);
		remaining += 2 + length + 1;
	}
	const { bytes, offset: start } = frame(PacketType.Subscribe, 0x02, remaining);
	bytes[start] = id >> 8;
	bytes[start + 1] = id & 0xff;
	let offset = start + 2;
	packet.subscriptions.forEach(({ filter, qos }, i) => {
		offset = writeString(bytes, offset, filter, lengths[i]!);
		bytes[offset++] = qos;
	});
	return bytes;
}

function encodeUnsubscribe(packet: UnsubscribePacket): Uint8Array {
	const id = checkPacketId(packet.packetId);
	if (!Array.isArray(packet.filters) || packet.filters.length === 0) throw new TypeError("UNSUBSCRIBE needs at least one topic filter");
	let remaining = 2;
	const lengths: number[] = [];
	for (const filter of packet.filters) {
		const problem = validateTopicFilter(filter);
		if (problem) throw new TypeError(problem);
		const length = utf8Length(filter);
		lengths.push(length);
		remaining += 2 + length;
	}
	const { bytes, offset: start } = frame(PacketType.Unsubscribe, 0x02, remaining);
	bytes[start] = id >> 8;
	bytes[start + 1] = id & 0xff;
	let offset = start + 2;
	packet.filters.forEach((filter, i) => {
		offset = writeString(bytes, offset, filter, lengths[i]!);
	});
	return bytes;
}

/** PINGREQ and DISCONNECT never change: one copy each, never written to. */
export const pingreqPacket: Uint8Array = Uint8Array.of(PacketType.Pingreq << 4, 0);
export const disconnectPacket: Uint8Array = Uint8Array.of(PacketType.Disconnect << 4, 0);

/** PUBACK, PUBREC, PUBREL (flags 0b0010), PUBCOMP, UNSUBACK: four bytes. */
export function encodeAck(type: AckPacket["type"], packetId: number): Uint8Array {
	return encodeAckInto(new Uint8Array(4), type, checkPacketId(packetId));
}

export function encodeAckInto(target: Uint8Array, type: number, packetId: number): Uint8Array {
	target[0] = (type << 4) | (type === PacketType.Pubrel ? 0x02 : 0);
	target[1] = 2;
	target[2] = packetId >> 8;
	target[3] = packetId & 0xff;
	return target;
}

/**
 * Encodes any packet a client sends; throws a TypeError or RangeError
 * naming a bad field. The broker's packets (CONNACK, SUBACK, PINGRESP) are
 * encoded by the tests' broker (test/lib/broker-codec), not on the device.
 */
export function encode(packet: Packet): Uint8Array {
	switch (packet.type) {
		case PacketType.Connect:
			return encodeConnect(packet);
		case PacketType.Publish:
			return encodePublish(packet);
		case PacketType.Puback:
		case PacketType.Pubrec:
		case PacketType.Pubrel:
		case PacketType.Pubcomp:
		case PacketType.Unsuback:
			return encodeAck(packet.type, packet.packetId);
		case PacketType.Subscribe:
			return encodeSubscribe(packet);
		case PacketType.Unsubscribe:
			return encodeUnsubscribe(packet);
		case PacketType.Pingreq:
			return pingreqPacket;
		case PacketType.Disconnect:
			return disconnectPacket;
		default:
			throw new TypeError(`a client does not send packet type ${String((packet as { type: unknown }).type)}`);
	}
}

// ---------------------------------------------------------------- decoding

/** Fixed-header flags each type must carry (2.2.2); PUBLISH's are its own. */
const requiredFlags = [-1, 0, 0, -1, 0, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0, -1];
const typeNames = ["reserved", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "reserved"];

export function packetTypeName(type: number): string {
	return typeNames[type] ?? "unknown";
}

/** Checks a fixed header's first byte; returns the broken rule, or undefined. */
export function checkFixedHeader(first: number): string | undefined {
	const type = first >> 4, flags = first & 0x0f;
	if (type === 0 || type === 15) return `packet type ${type} is reserved`;
	if (type === PacketType.Publish) {
		if ((flags & 0x06) === 0x06) return "PUBLISH with QoS 3 is malformed";
		return undefined;
	}
	if (flags !== requiredFlags[type]) return `${typeNames[type]} fixed header flags must be ${requiredFlags[type]}, got ${flags}`;
	return undefined;
}

/**
 * Decodes one packet body a client receives, other than PUBLISH: `first`
 * is the fixed header's first byte and bytes[start, end) the remaining
 * length. Returns the packet, or the broken rule as a string.
 */
export function decodePacket(first: number, bytes: Uint8Array, start: number, end: number): Packet | string {
	const headerProblem = checkFixedHeader(first);
	if (headerProblem) return headerProblem;
	const type = first >> 4;
	const length = end - start;
	switch (type) {
		case PacketType.Publish:
			// The parser decodes PUBLISH itself, into its reused record (decodePublishInto).
			return "PUBLISH is decoded by decodePublishInto";
		case PacketType.Puback:
		case PacketType.Pubrec:
		case PacketType.Pubrel:
		case PacketType.Pubcomp:
		case PacketType.Unsuback: {
			if (length !== 2) return `${typeNames[type]} remaining length must be 2, got ${length}`;
			const packetId = (bytes[start]! << 8) | bytes[start + 1]!;
			if (packetId === 0) return `${typeNames[type]} packet id must not be 0`;
			return { type, packetId } as AckPacket;
		}
		case PacketType.Connack: {
			if (length !== 2) return `CONNACK remaining length must be 2, got ${length}`;
			const flags = bytes[start]!;
			if (flags & 0xfe) return "CONNACK reserved flag bits must be 0";
			const returnCode = bytes[start + 1]!;
			if (returnCode > 5) return `CONNACK return code ${returnCode} is reserved`;
			if (returnCode !== 0 && flags) return "CONNACK session present must be 0 when the connection is refused";
			return { type, sessionPresent: flags === 1, returnCode } satisfies ConnackPacket;
		}
		case PacketType.Suback: {
			if (length < 3) return "SUBACK must carry a packet id and at least one return code";
			const packetId = (bytes[start]! << 8) | bytes[start + 1]!;
			if (packetId === 0) return "SUBACK packet id must not be 0";
			const returnCodes: number[] = [];
			for (let i = start + 2; i < end; i++) {
				const code = bytes[i]!;
				if (code > 2 && code !== 0x80) return `SUBACK return code ${code} is not 0, 1, 2 or 0x80`;
				returnCodes.push(code);
			}
			return { type, packetId, returnCodes } satisfies SubackPacket;
		}
		case PacketType.Pingreq:
		case PacketType.Pingresp:
		case PacketType.Disconnect:
			if (length !== 0) return `${typeNames[type]} remaining length must be 0, got ${length}`;
			return { type } as Packet;
		case PacketType.Connect:
		case PacketType.Subscribe:
		case PacketType.Unsubscribe:
			// Only a client sends these; the tests' broker decodes them (test/lib/broker-codec).
			return `a client must not receive ${typeNames[type]}`;
	}
	return `packet type ${type} is reserved`;
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
const forbiddenInTopic = /[#+\u0000]/;

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
	const topicEnd = start + 2 + ((bytes[start]! << 8) | bytes[start + 1]!);
	if (topicEnd + (qos > 0 ? 2 : 0) > end) return "PUBLISH topic length runs past the packet";
	if (topicEnd === start + 2) return "PUBLISH topic must not be empty";
	const topic = utf8 ? utf8.decode(bytes.subarray(start + 2, topicEnd)) : decodeUtf8(bytes, start + 2, topicEnd);
	if (topic !== into.checkedTopic) {
		// Only a new topic can be too long: the one checked last was not.
		if (topicEnd - start - 2 > into.maxTopicBytes) return overLongTopic(qos, bytes, topicEnd, topicEnd - start - 2, into);
		const problem = checkTopicName(topic, bytes, start + 2, topicEnd);
		if (problem !== undefined) return problem;
		if ((topic as string).indexOf("\ufffd") < 0) into.checkedTopic = topic as string;
	}
	let offset = topicEnd;
	if (qos > 0) {
		const packetId = (bytes[offset]! << 8) | bytes[offset + 1]!;
		if (packetId === 0) return "PUBLISH packet id must not be 0";
		into.packetId = packetId;
		offset += 2;
	} else {
		into.packetId = 0;
	}
	into.topic = topic as string; // checkTopicName refused undefined
	into.payload = bytes.subarray(offset, end);
	into.qos = qos as QoS;
	into.retain = (first & 1) !== 0;
	into.dup = dup;
	return undefined;
}

/**
 * A well-formed PUBLISH whose topic is longer than we accept: its QoS and
 * packet id are kept so that it can still be acknowledged, or a broker
 * would hold it unacknowledged forever.
 */
function overLongTopic(qos: number, bytes: Uint8Array, topicEnd: number, length: number, into: InboundPublish): string {
	const packetId = qos > 0 ? (bytes[topicEnd]! << 8) | bytes[topicEnd + 1]! : 0;
	if (qos > 0 && packetId === 0) return "PUBLISH packet id must not be 0";
	into.qos = qos as QoS;
	into.packetId = packetId;
	into.overLimit = true;
	return `PUBLISH topic of ${length} bytes exceeds the limit of ${into.maxTopicBytes}`;
}

/** The slow path of the topic check, for a topic not seen just before. */
function checkTopicName(topic: string | undefined, bytes: Uint8Array, start: number, end: number): string | undefined {
	// U+FFFD may stand for malformed bytes: only the strict decoder can tell.
	if (topic === undefined || (topic.indexOf("\ufffd") >= 0 && decodeUtf8(bytes, start, end) === undefined)) {
		return "PUBLISH topic is not valid UTF-8 or contains U+0000";
	}
	if (forbiddenInTopic.test(topic)) {
		return topic.indexOf("\u0000") >= 0 ? "PUBLISH topic must not contain U+0000" : "PUBLISH topic must not contain wildcards";
	}
	return undefined;
}

