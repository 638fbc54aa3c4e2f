/*
 * The broker's half of the MQTT codec, for the tests' scripted broker and
 * the codec tests: it decodes what a client sends (CONNECT, SUBSCRIBE,
 * UNSUBSCRIBE, PINGREQ, DISCONNECT, any whole packet) and encodes what a
 * broker sends (CONNACK, SUBACK, PINGRESP), and any packet from its
 * fields (a PUBLISH, an acknowledgement). None of it ships in the firmware,
 * which only ever plays the client and builds those from its own state
 * (modules/mqtt/codec).
 */
import {
	PacketType, type ConnectPacket, type Packet, type PublishPacket, type QoS, type SubackPacket, type SubscribePacket, type UnsubscribePacket,
} from "mqtt/packets";
import {
	checkBytes, checkFixedHeader, checkPacketId, checkQoS, decodePacket, decodePublishInto, disconnectPacket, encode as encodeClientPacket,
	encodeAckInto, inboundPublishRecord, maxRemainingLength, packetTypeName, pingreqPacket, publishSize,
} from "mqtt/codec";
import { encodePublishInto } from "mqtt/publish-buffers";
import { decodeUtf8, encodeUtf8 } from "utf8";
import { validateTopicFilter, validateTopicName } from "mqtt/topic";

/** Encodes any packet, a client's or a broker's; throws on a bad field. */
export function encode(packet: Packet): Uint8Array {
	switch (packet.type) {
		case PacketType.Connack: {
			const code = packet.returnCode;
			if (!Number.isInteger(code) || code < 0 || code > 255) throw new RangeError(`CONNACK return code must be 0-255, got ${code}`);
			return Uint8Array.of(0x20, 2, packet.sessionPresent ? 1 : 0, code);
		}
		case PacketType.Suback:
			return encodeSuback(packet);
		case PacketType.Pingresp:
			return Uint8Array.of(PacketType.Pingresp << 4, 0);
		case PacketType.Publish:
			return encodePublish(packet);
		case PacketType.Puback:
		case PacketType.Pubrec:
		case PacketType.Pubrel:
		case PacketType.Pubcomp:
		case PacketType.Unsuback:
			return encodeAckInto(new Uint8Array(4), packet.type, checkPacketId(packet.packetId));
		case PacketType.Pingreq:
			return pingreqPacket.slice();
		case PacketType.Disconnect:
			return disconnectPacket.slice();
		default:
			return encodeClientPacket(packet);
	}
}

/** A PUBLISH from its fields, checked, through the device's one PUBLISH encoder. */
function encodePublish(packet: PublishPacket): Uint8Array {
	const problem = validateTopicName(packet.topic);
	if (problem) throw new TypeError(problem);
	const qos = checkQoS(packet.qos);
	checkBytes(packet.payload, "payload", maxRemainingLength);
	if (qos > 0) checkPacketId(packet.packetId);
	else if (packet.dup) throw new TypeError("a QoS 0 PUBLISH must not set DUP");
	const topic = encodeUtf8(packet.topic);
	const size = publishSize(topic.length, packet.payload.length, qos);
	if (size - 5 > maxRemainingLength) throw new RangeError(`PUBLISH needs ${size - 5} bytes; MQTT allows at most ${maxRemainingLength}`);
	const bytes = new Uint8Array(size);
	encodePublishInto(bytes, topic, packet.payload, qos, packet.retain, packet.dup, packet.packetId ?? 0);
	return bytes;
}

function encodeSuback(packet: SubackPacket): Uint8Array {
	const id = checkPacketId(packet.packetId);
	for (const code of packet.returnCodes) {
		if (code !== 0 && code !== 1 && code !== 2 && code !== 0x80) throw new RangeError(`SUBACK return code must be 0, 1, 2 or 0x80, got ${code}`);
	}
	const remaining = 2 + packet.returnCodes.length;
	if (remaining > 127) throw new RangeError("this test broker's SUBACK carries at most 125 return codes");
	return Uint8Array.of(PacketType.Suback << 4, remaining, id >> 8, id & 0xff, ...packet.returnCodes);
}

/** Decodes one packet body of any type, as a broker must. */
export function decodeBody(first: number, bytes: Uint8Array, start: number, end: number): Packet | string {
	const headerProblem = checkFixedHeader(first);
	if (headerProblem) return headerProblem;
	switch (first >> 4) {
		case PacketType.Publish:
			return decodePublish(first, bytes, start, end);
		case PacketType.Connect:
			return decodeConnect(bytes, start, end);
		case PacketType.Subscribe:
			return decodeSubscribe(bytes, start, end);
		case PacketType.Unsubscribe:
			return decodeUnsubscribe(bytes, start, end);
		case PacketType.Pingreq:
		case PacketType.Disconnect:
			if (end !== start) return `${packetTypeName(first >> 4)} remaining length must be 0, got ${end - start}`;
			return { type: first >> 4 } as Packet;
		default:
			return decodePacket(first, bytes, start, end);
	}
}

function decodePublish(first: number, bytes: Uint8Array, start: number, end: number): PublishPacket | string {
	const fields = inboundPublishRecord();
	const problem = decodePublishInto(first, bytes, start, end, undefined, fields);
	if (problem !== undefined) return problem;
	const packet: PublishPacket = { type: PacketType.Publish, topic: fields.topic, payload: fields.payload, qos: fields.qos, retain: fields.retain, dup: fields.dup };
	if (fields.qos > 0) packet.packetId = fields.packetId;
	return packet;
}

/** Reads a length-prefixed field; returns [end offset] or a problem. */
function fieldEnd(bytes: Uint8Array, offset: number, end: number): number {
	if (offset + 2 > end) return -1;
	const fieldEnd = offset + 2 + ((bytes[offset]! << 8) | bytes[offset + 1]!);
	return fieldEnd > end ? -1 : fieldEnd;
}

function decodeConnect(bytes: Uint8Array, start: number, end: number): ConnectPacket | string {
	const nameEnd = fieldEnd(bytes, start, end);
	if (nameEnd < 0 || decodeUtf8(bytes, start + 2, nameEnd) !== "MQTT") return "CONNECT protocol name must be MQTT";
	if (nameEnd + 4 > end) return "CONNECT variable header is truncated";
	if (bytes[nameEnd] !== 4) return `CONNECT protocol level ${bytes[nameEnd]} is not 4 (3.1.1)`;
	const flags = bytes[nameEnd + 1]!;
	if (flags & 1) return "CONNECT reserved flag must be 0";
	const keepalive = (bytes[nameEnd + 2]! << 8) | bytes[nameEnd + 3]!;
	let offset = nameEnd + 4;
	const readString = (what: string): string => {
		const stop = fieldEnd(bytes, offset, end);
		if (stop < 0) throw `CONNECT ${what} runs past the packet`;
		const text = decodeUtf8(bytes, offset + 2, stop);
		if (text === undefined) throw `CONNECT ${what} is not valid UTF-8`;
		offset = stop;
		return text;
	};
	const readBinary = (what: string): Uint8Array => {
		const stop = fieldEnd(bytes, offset, end);
		if (stop < 0) throw `CONNECT ${what} runs past the packet`;
		const value = bytes.slice(offset + 2, stop);
		offset = stop;
		return value;
	};
	try {
		const packet: ConnectPacket = { type: PacketType.Connect, clientId: readString("client id"), cleanSession: (flags & 2) !== 0, keepalive };
		const willQoS = (flags >> 3) & 3;
		if (flags & 4) {
			if (willQoS === 3) return "CONNECT will QoS must not be 3";
			const topic = readString("will topic");
			packet.will = { topic, payload: readBinary("will payload"), qos: willQoS as QoS, retain: (flags & 0x20) !== 0 };
		} else if (willQoS !== 0 || flags & 0x20) {
			return "CONNECT will QoS and retain must be 0 without a will";
		}
		if (flags & 0x80) packet.username = readString("user name");
		if (flags & 0x40) {
			if (!(flags & 0x80)) return "CONNECT password flag needs the user name flag";
			packet.password = readBinary("password");
		}
		if (offset !== end) return "CONNECT has bytes after its payload";
		return packet;
	} catch (problem) {
		return problem as string;
	}
}

function decodeSubscribe(bytes: Uint8Array, start: number, end: number): SubscribePacket | string {
	if (end - start < 2) return "SUBSCRIBE is too short for a packet id";
	const packetId = (bytes[start]! << 8) | bytes[start + 1]!;
	if (packetId === 0) return "SUBSCRIBE packet id must not be 0";
	const subscriptions: SubscribePacket["subscriptions"] = [];
	let offset = start + 2;
	while (offset < end) {
		const stop = fieldEnd(bytes, offset, end);
		if (stop < 0 || stop >= end) return "SUBSCRIBE topic filter runs past the packet";
		const filter = decodeUtf8(bytes, offset + 2, stop);
		if (filter === undefined) return "SUBSCRIBE topic filter is not valid UTF-8";
		const problem = validateTopicFilter(filter);
		if (problem) return `SUBSCRIBE ${problem}`;
		const qos = bytes[stop]!;
		if (qos > 2) return "SUBSCRIBE requested QoS must be 0, 1 or 2";
		subscriptions.push({ filter, qos: qos as QoS });
		offset = stop + 1;
	}
	if (subscriptions.length === 0) return "SUBSCRIBE must carry at least one topic filter";
	return { type: PacketType.Subscribe, packetId, subscriptions };
}

function decodeUnsubscribe(bytes: Uint8Array, start: number, end: number): UnsubscribePacket | string {
	if (end - start < 2) return "UNSUBSCRIBE is too short for a packet id";
	const packetId = (bytes[start]! << 8) | bytes[start + 1]!;
	if (packetId === 0) return "UNSUBSCRIBE packet id must not be 0";
	const filters: string[] = [];
	let offset = start + 2;
	while (offset < end) {
		const stop = fieldEnd(bytes, offset, end);
		if (stop < 0) return "UNSUBSCRIBE topic filter runs past the packet";
		const filter = decodeUtf8(bytes, offset + 2, stop);
		if (filter === undefined) return "UNSUBSCRIBE topic filter is not valid UTF-8";
		const problem = validateTopicFilter(filter);
		if (problem) return `UNSUBSCRIBE ${problem}`;
		filters.push(filter);
		offset = stop;
	}
	if (filters.length === 0) return "UNSUBSCRIBE must carry at least one topic filter";
	return { type: PacketType.Unsubscribe, packetId, filters };
}

/**
 * Reads the remaining length after the first byte: [the body's offset, its
 * length], undefined when the bytes end first, or the broken rule.
 */
function readLength(bytes: Uint8Array): [number, number] | string | undefined {
	let remaining = 0, offset = 1;
	for (;;) {
		if (offset >= bytes.length) return undefined;
		const byte = bytes[offset++]!;
		remaining += (byte & 0x7f) << (7 * (offset - 2));
		if (!(byte & 0x80)) return [offset, remaining];
		if (offset > 4) return "remaining length takes more than 4 bytes";
	}
}

/** Decodes one whole packet (fixed header included): the packet, or the broken rule. */
export function decode(bytes: Uint8Array): Packet | string {
	if (bytes.length < 2) return "packet is shorter than a fixed header";
	const length = readLength(bytes);
	if (length === undefined) return "remaining length is truncated";
	if (typeof length === "string") return length;
	const [offset, remaining] = length;
	if (offset + remaining !== bytes.length) return `remaining length ${remaining} does not match the ${bytes.length - offset} bytes given`;
	return decodeBody(bytes[0]!, bytes, offset, bytes.length);
}

/**
 * Cuts a byte stream, in any split, into whole packets and decodes each:
 * what the scripted broker reads from the device.
 */
export class PacketReader {
	#pending: Uint8Array = new Uint8Array(0);
	readonly #each: (packet: Packet | string) => void;

	constructor(each: (packet: Packet | string) => void) {
		this.#each = each;
	}

	push(chunk: Uint8Array): void {
		let bytes: Uint8Array = this.#pending.length ? concatBytes(this.#pending, chunk) : chunk.slice();
		for (;;) {
			const length = readLength(bytes);
			if (typeof length === "string") {
				this.#pending = new Uint8Array(0);
				return this.#each(length);
			}
			if (length === undefined || length[0] + length[1] > bytes.length) {
				this.#pending = bytes;
				return;
			}
			const [offset, remaining] = length;
			this.#each(decodeBody(bytes[0]!, bytes, offset, offset + remaining));
			bytes = bytes.subarray(offset + remaining);
			if (bytes.length === 0) {
				this.#pending = new Uint8Array(0);
				return;
			}
		}
	}
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
	const joined = new Uint8Array(a.length + b.length);
	joined.set(a);
	joined.set(b, a.length);
	return joined;
}
