/*
 * The codec and the streaming parser, on Node and on XS: every packet type
 * round-trips at its fields' edges, every validation rule rejects with its
 * own message, and any split or coalescing of a stream parses the same.
 */
import { defineSuite } from "test/lib/suite";
import * as assert from "test/lib/assert";
import { concat, seededRandom } from "test/lib/fake-host";
import { PacketType, type Packet } from "mqtt/packets";
import { packetTypeName, varintLength } from "mqtt/codec";
import { decode, encode } from "test/lib/broker-codec";
import { PacketParser } from "mqtt/parser";
import { topicMatches, validateTopicFilter, validateTopicName } from "mqtt/topic";
import { decodeUtf8, encodeUtf8 } from "utf8";

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const ascii = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));

function roundTrip(packet: Packet): void {
	const decoded = decode(encode(packet));
	assert.deepEqual(decoded, packet, packetTypeName(packet.type));
}

/** Packets of every type, at their edges. */
export function samplePackets(): Packet[] {
	return [
		{ type: PacketType.Connect, clientId: "room1", cleanSession: true, keepalive: 0 },
		{ type: PacketType.Connect, clientId: "", cleanSession: false, keepalive: 65535, username: "u", password: ascii("p") },
		{ type: PacketType.Connect, clientId: "c", cleanSession: true, keepalive: 30, username: "only-user" },
		{ type: PacketType.Connect, clientId: "c", cleanSession: false, keepalive: 30, will: { topic: "s/status", payload: ascii("offline"), qos: 1, retain: true } },
		{ type: PacketType.Connect, clientId: "c", cleanSession: false, keepalive: 30, will: { topic: "w", payload: new Uint8Array(0), qos: 2, retain: false } },
		{ type: PacketType.Connack, sessionPresent: true, returnCode: 0 },
		...[0, 1, 2, 3, 4, 5].map((returnCode) => ({ type: PacketType.Connack, sessionPresent: false, returnCode }) as Packet),
		{ type: PacketType.Publish, topic: "sensors/room1/temp", payload: ascii('{"temperature":21.5}'), qos: 0, retain: false, dup: false },
		{ type: PacketType.Publish, topic: "a", payload: new Uint8Array(0), qos: 1, retain: true, dup: true, packetId: 65535 },
		{ type: PacketType.Publish, topic: "température/é", payload: new Uint8Array(200), qos: 2, retain: false, dup: false, packetId: 1 },
		{ type: PacketType.Publish, topic: "t", payload: new Uint8Array(16380), qos: 0, retain: false, dup: false },
		...[PacketType.Puback, PacketType.Pubrec, PacketType.Pubrel, PacketType.Pubcomp, PacketType.Unsuback].map((type) => ({ type, packetId: 513 }) as Packet),
		{ type: PacketType.Subscribe, packetId: 1, subscriptions: [{ filter: "control/+/led", qos: 1 }, { filter: "#", qos: 2 }, { filter: "a/b", qos: 0 }] },
		{ type: PacketType.Suback, packetId: 2, returnCodes: [0, 1, 2, 0x80] },
		{ type: PacketType.Unsubscribe, packetId: 3, filters: ["control/+/led", "x/#"] },
		{ type: PacketType.Pingreq },
		{ type: PacketType.Pingresp },
		{ type: PacketType.Disconnect },
	];
}

/** The packets a broker receives and a client never does. */
const onlyClientsSend = (packet: Packet): boolean =>
	[PacketType.Connect, PacketType.Subscribe, PacketType.Unsubscribe, PacketType.Pingreq, PacketType.Disconnect].includes(packet.type);

function collect(maxPacketSize = 1 << 20, oversize: "skip" | "close" = "close", maxTopicBytes?: number): { parser: PacketParser; packets: Packet[]; errors: string[]; skipped: string[] } {
	const packets: Packet[] = [];
	const errors: string[] = [];
	const skipped: string[] = [];
	const parser = new PacketParser({ maxPacketSize, oversize, maxTopicBytes }, {
		packet: (packet) => void packets.push(packet),
		skipped: (qos, packetId, topic, rule) => void skipped.push(`QoS ${qos} id ${packetId} topic ${topic} for ${rule.slice(0, 7)}`),
		publish: ({ topic, payload, qos, retain, dup, packetId }) => {
			packets.push({ type: PacketType.Publish, topic, payload: payload.slice(), qos, retain, dup, ...(qos > 0 ? { packetId } : {}) });
		},
		error: (rule, fatal) => errors.push(`${fatal ? "fatal" : "skipped"}: ${rule}`),
	});
	return { parser, packets, errors, skipped };
}

export const suite = defineSuite("MQTT codec and streaming parser", {
	"round-trips every packet type at its edges"() {
		for (const packet of samplePackets()) roundTrip(packet);
	},

	"encodes remaining lengths at every varint boundary"() {
		for (const remaining of [127, 128, 16383, 16384, 2097151, 2097152]) {
			const payloadLength = remaining - 2 - 1;
			const encoded = encode({ type: PacketType.Publish, topic: "t", payload: new Uint8Array(payloadLength), qos: 0, retain: false, dup: false });
			assert.equal(encoded.length, 1 + varintLength(remaining) + remaining, `remaining ${remaining}`);
			const decoded = decode(encoded);
			assert.ok(typeof decoded !== "string" && decoded.type === PacketType.Publish && decoded.payload.length === payloadLength, `remaining ${remaining}`);
		}
	},

	"encodes a QoS 1 PUBLISH byte for byte as the specification lays it out"() {
		const encoded = encode({ type: PacketType.Publish, topic: "a/b", payload: ascii("hi"), qos: 1, retain: true, dup: false, packetId: 10 });
		assert.deepEqual(encoded, bytes(0x33, 9, 0, 3, 0x61, 0x2f, 0x62, 0, 10, 0x68, 0x69));
	},

	"rejects bad application arguments with specific errors"() {
		const publish = (fields: object) => () => encode({ type: PacketType.Publish, topic: "t", payload: new Uint8Array(0), qos: 0, retain: false, dup: false, ...fields } as Packet);
		assert.throws(publish({ topic: "a/#" }), /must not contain wildcards/);
		assert.throws(publish({ topic: "a/+/b" }), /must not contain wildcards/);
		assert.throws(publish({ topic: "" }), /must not be empty/);
		assert.throws(publish({ topic: "a\u0000b" }), /U\+0000/);
		assert.throws(publish({ topic: "a\ud800" }), /lone surrogate/);
		assert.throws(publish({ topic: "x".repeat(65536) }), /65536 bytes; at most 65535/);
		assert.throws(publish({ qos: 3 }), /QoS must be 0, 1 or 2, got 3/);
		assert.throws(publish({ qos: 1 }), /packet id must be an integer 1-65535/);
		assert.throws(publish({ qos: 1, packetId: 65536 }), /packet id must be an integer 1-65535, got 65536/);
		assert.throws(publish({ dup: true }), /QoS 0 PUBLISH must not set DUP/);
		assert.throws(publish({ payload: "text" }), /payload must be a Uint8Array/);
		assert.throws(() => encode({ type: PacketType.Subscribe, packetId: 1, subscriptions: [{ filter: "a/#/b", qos: 0 }] }), /# must be the last character/);
		assert.throws(() => encode({ type: PacketType.Subscribe, packetId: 1, subscriptions: [{ filter: "a+", qos: 0 }] }), /\+ must occupy a whole level/);
		assert.throws(() => encode({ type: PacketType.Subscribe, packetId: 1, subscriptions: [] }), /at least one topic filter/);
		assert.throws(() => encode({ type: PacketType.Connect, clientId: "c", cleanSession: true, keepalive: 70000 }), /keepalive must be 0-65535/);
		assert.throws(() => encode({ type: PacketType.Connect, clientId: "c", cleanSession: true, keepalive: 1, password: ascii("p") }), /password needs a user name/);
		assert.throws(() => encode({ type: PacketType.Suback, packetId: 1, returnCodes: [3] }), /0, 1, 2 or 0x80/);
	},

	"names the broken rule for malformed inbound packets, never throwing"() {
		const cases: [Uint8Array, RegExp][] = [
			[bytes(0x00, 0x00), /packet type 0 is reserved/],
			[bytes(0xf0, 0x00), /packet type 15 is reserved/],
			[bytes(0x36, 0x05, 0, 1, 0x61, 0, 1), /QoS 3 is malformed/],
			[bytes(0x38, 0x03, 0, 1, 0x61), /QoS 0 must not set DUP/],
			[bytes(0x30, 0x03, 0, 1, 0x23), /must not contain wildcards/],
			[bytes(0x30, 0x03, 0, 1, 0x2b), /must not contain wildcards/],
			[bytes(0x30, 0x03, 0, 1, 0x00), /not valid UTF-8 or contains U\+0000/],
			[bytes(0x30, 0x04, 0, 2, 0xc3, 0x28), /not valid UTF-8/],
			[bytes(0x30, 0x05, 0, 3, 0xed, 0xa0, 0x80), /not valid UTF-8/],
			[bytes(0x30, 0x02, 0, 0), /topic must not be empty/],
			[bytes(0x30, 0x03, 0, 9, 0x61), /topic length runs past the packet/],
			[bytes(0x32, 0x05, 0, 1, 0x61, 0, 0), /packet id must not be 0/],
			[bytes(0x40, 0x02, 0, 0), /PUBACK packet id must not be 0/],
			[bytes(0x41, 0x02, 0, 1), /PUBACK fixed header flags must be 0, got 1/],
			[bytes(0x60, 0x02, 0, 1), /PUBREL fixed header flags must be 2, got 0/],
			[bytes(0x80, 0x05, 0, 1, 0, 1, 0x61), /SUBSCRIBE fixed header flags must be 2/],
			[bytes(0x20, 0x02, 0x02, 0), /CONNACK reserved flag bits must be 0/],
			[bytes(0x20, 0x02, 0, 6), /CONNACK return code 6 is reserved/],
			[bytes(0x20, 0x03, 0, 0, 0), /CONNACK remaining length must be 2/],
			[bytes(0x90, 0x03, 0, 1, 3), /SUBACK return code 3/],
			[bytes(0xd0, 0x01, 0), /PINGRESP remaining length must be 0/],
			[bytes(0x30, 0xff, 0xff, 0xff, 0xff, 0x01), /more than 4 bytes/],
		];
		for (const [packet, rule] of cases) {
			const result = decode(packet);
			assert.ok(typeof result === "string", `expected an error for ${Array.from(packet).join(",")}`);
			assert.ok(rule.test(result as string), `"${result as string}" does not match ${rule}`);
			// And through the streaming parser: a fatal error, never an exception.
			const { parser, packets, errors } = collect();
			parser.push(packet);
			assert.equal(packets.length, 0);
			assert.equal(errors.length, 1);
			assert.ok(errors[0]!.startsWith("fatal: "));
		}
	},

	"validates topics and filters"() {
		assert.equal(validateTopicName("sensors/room1/temp"), undefined);
		assert.equal(validateTopicName("/"), undefined);
		assert.ok(validateTopicName("a/+") !== undefined);
		assert.equal(validateTopicFilter("#"), undefined);
		assert.equal(validateTopicFilter("+/+/#"), undefined);
		assert.equal(validateTopicFilter("/+/"), undefined);
		for (const bad of ["a#", "a/#/b", "#/a", "a+", "+a", "a/b+/c", ""]) assert.ok(validateTopicFilter(bad) !== undefined, bad);
	},

	"matches filters with + and #, and keeps $ topics from first-level wildcards"() {
		const table: [string, string, boolean][] = [
			["control/room1/led", "control/room1/led", true],
			["control/+/led", "control/room1/led", true],
			["control/+/led", "control/room1/fan", false],
			["control/#", "control/room1/led", true],
			["control/#", "control", true],
			["control/+", "control/a/b", false],
			["+/+", "a/b", true],
			["+", "/", false],
			["+/+", "/", true],
			["#", "anything/at/all", true],
			["#", "$SYS/broker", false],
			["+/broker", "$SYS/broker", false],
			["$SYS/#", "$SYS/broker", true],
			["a/b", "a/bc", false],
			["a/bc", "a/b", false],
			["a/+/c", "a//c", true],
		];
		for (const [filter, topic, expected] of table) assert.equal(topicMatches(filter, topic), expected, `${filter} vs ${topic}`);
	},

	"encodes and decodes UTF-8 like the specification requires"() {
		for (const text of ["", "ascii", "é", "温度", "😀", "a\u00ffb"]) assert.equal(decodeUtf8(encodeUtf8(text), 0, encodeUtf8(text).length), text);
		assert.equal(decodeUtf8(bytes(0xc0, 0x80), 0, 2), undefined, "overlong");
		assert.equal(decodeUtf8(bytes(0xf4, 0x90, 0x80, 0x80), 0, 4), undefined, "above U+10FFFF");
		assert.equal(decodeUtf8(bytes(0xe2, 0x82), 0, 2), undefined, "truncated");
	},

	"parses any split of a packet stream, down to single bytes"() {
		// What a client receives: the device's parser has no decoder for a client's own packets.
		const packets = samplePackets().filter((p) => !onlyClientsSend(p));
		const stream = concat(packets.map(encode));
		const random = seededRandom(42);
		for (let round = 0; round < 40; round++) {
			const { parser, packets: parsed, errors } = collect();
			let offset = 0;
			while (offset < stream.length) {
				const size = round === 0 ? 1 : 1 + Math.floor(random() * (random() < 0.5 ? 8 : 4000));
				parser.push(stream.subarray(offset, Math.min(stream.length, offset + size)));
				offset += size;
			}
			assert.deepEqual(errors, []);
			assert.deepEqual(parsed, packets, `round ${round}`);
		}
	},

	"refuses a packet only a client sends (CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT): the broker half of the codec is not on the device"() {
		for (const packet of samplePackets().filter(onlyClientsSend)) {
			const { parser, errors } = collect();
			parser.push(encode(packet));
			assert.deepEqual(errors, [`fatal: a client must not receive ${packetTypeName(packet.type)}`]);
		}
	},

	"parses many packets coalesced into one chunk"() {
		const many: Packet[] = [];
		for (let i = 1; i <= 300; i++) many.push({ type: PacketType.Publish, topic: `t/${i}`, payload: ascii(String(i)), qos: 1, retain: false, dup: false, packetId: i });
		const { parser, packets } = collect();
		parser.push(concat(many.map(encode)));
		assert.deepEqual(packets, many);
	},

	"reports a skipped PUBLISH's topic only when it is within the topic limit, whatever the payload"() {
		const publish = (topic: string, qos: 0 | 1): Uint8Array =>
			encode({ type: PacketType.Publish, topic, payload: new Uint8Array(400), qos, retain: false, dup: false, ...(qos > 0 ? { packetId: 7 } : {}) });
		const stream = concat([publish("t/" + "y".repeat(40), 1), publish("a", 0), publish("caf\u00e9", 0)]);
		for (const step of [1, 2, stream.length]) {
			const { parser, skipped } = collect(256, "skip", 32);
			for (let i = 0; i < stream.length; i += step) parser.push(stream.subarray(i, i + step));
			assert.deepEqual(skipped, ["QoS 1 id 7 topic undefined for PUBLISH", "QoS 0 id 0 topic a for PUBLISH", "QoS 0 id 0 topic caf\u00e9 for PUBLISH"], `chunks of ${step}`);
		}
	},

	"skips an oversized packet without holding it, then parses the next"() {
		const big = encode({ type: PacketType.Publish, topic: "big", payload: new Uint8Array(5000), qos: 0, retain: false, dup: false });
		const small = encode({ type: PacketType.Pingresp });
		const { parser, packets, errors } = collect(256, "skip");
		const stream = concat([big, small, big, small]);
		for (let i = 0; i < stream.length; i += 7) {
			parser.push(stream.subarray(i, i + 7));
			assert.ok(parser.buffered <= 256, `buffered ${parser.buffered}`);
		}
		assert.equal(packets.length, 2);
		assert.deepEqual(errors, ["skipped: PUBLISH of 5008 bytes exceeds the maximum packet size of 256", "skipped: PUBLISH of 5008 bytes exceeds the maximum packet size of 256"]);
	},

	"hands over the QoS, packet id and topic of a skipped oversized PUBLISH, in any split, so it can be acknowledged and reported"() {
		const publish = (topic: string, qos: 0 | 1 | 2, packetId: number): Uint8Array =>
			encode({ type: PacketType.Publish, topic, payload: new Uint8Array(600), qos, retain: false, dup: false, ...(qos > 0 ? { packetId } : {}) });
		const stream = concat([publish("a/long/topic/name", 1, 0x1234), publish("b", 2, 0xfe01), publish("c", 0, 0), encode({ type: PacketType.Pingresp })]);
		for (const step of [1, 3, 5, 64, stream.length]) {
			const { parser, packets, skipped, errors } = collect(256, "skip");
			for (let i = 0; i < stream.length; i += step) parser.push(stream.subarray(i, i + step));
			assert.deepEqual(skipped, [`QoS 1 id ${0x1234} topic a/long/topic/name for PUBLISH`, `QoS 2 id ${0xfe01} topic b for PUBLISH`, "QoS 0 id 0 topic c for PUBLISH"], `chunks of ${step}`);
			assert.equal(errors.length, 3);
			assert.deepEqual(packets.map((p) => p.type), [PacketType.Pingresp]);
		}
	},

	"skips a PUBLISH whose topic is over the limit, keeps its id for the acknowledgement, and goes on"() {
		const long = "t/" + "x".repeat(40);
		const stream = concat([
			encode({ type: PacketType.Publish, topic: long, payload: ascii("no"), qos: 1, retain: false, dup: false, packetId: 9 }),
			encode({ type: PacketType.Publish, topic: long, payload: ascii("no"), qos: 0, retain: false, dup: false }),
			encode({ type: PacketType.Publish, topic: "t/ok", payload: ascii("yes"), qos: 0, retain: false, dup: false }),
		]);
		for (const step of [1, stream.length]) {
			const { parser, packets, skipped, errors } = collect(1024, "close", 32);
			for (let i = 0; i < stream.length; i += step) parser.push(stream.subarray(i, i + step));
			assert.deepEqual(skipped, ["QoS 1 id 9 topic undefined for PUBLISH", "QoS 0 id 0 topic undefined for PUBLISH"]);
			assert.deepEqual(errors, ["skipped: PUBLISH topic of 42 bytes exceeds the limit of 32", "skipped: PUBLISH topic of 42 bytes exceeds the limit of 32"]);
			assert.deepEqual(packets.map((p) => (p as { topic: string }).topic), ["t/ok"]);
			assert.equal(parser.failed, false);
		}
		assert.throws(() => collect(1024, "close", 0), /maxTopicBytes must be 1-65535/);
	},

	"stops at an oversized packet when configured to close"() {
		const { parser, packets, errors } = collect(256, "close");
		parser.push(encode({ type: PacketType.Publish, topic: "big", payload: new Uint8Array(5000), qos: 0, retain: false, dup: false }));
		parser.push(encode({ type: PacketType.Pingresp }));
		assert.equal(packets.length, 0);
		assert.equal(errors.length, 1);
		assert.ok(parser.failed);
	},

	"never throws on random bytes"() {
		const random = seededRandom(99);
		for (let round = 0; round < 300; round++) {
			const { parser } = collect(1024, round % 2 ? "skip" : "close");
			const chunk = new Uint8Array(1 + Math.floor(random() * 64));
			for (let i = 0; i < chunk.length; i++) chunk[i] = Math.floor(random() * 256);
			parser.push(chunk);
			assert.ok(parser.buffered <= 1024);
		}
	},

	"checks topics as strictly with a native replacement decoder as without one"() {
		// The hosts' decoder: replaces malformed bytes with U+FFFD, keeps a leading BOM.
		const native = new TextDecoder("utf-8", { ignoreBOM: true });
		const publish = (topic: Uint8Array): Uint8Array => bytes(0x30, 2 + topic.length + 1, 0, topic.length, ...topic, 0x78);
		const topicsOf = (...chunks: Uint8Array[]): { topics: string[]; errors: string[] } => {
			const topics: string[] = [];
			const errors: string[] = [];
			const parser = new PacketParser({ maxPacketSize: 1024, oversize: "close", utf8: native }, {
				packet: () => {},
				skipped: () => {},
				publish: (message) => void topics.push(message.topic),
				error: (rule) => void errors.push(rule),
			});
			for (const chunk of chunks) parser.push(chunk);
			return { topics, errors };
		};
		// MQTT forbids skipping a leading U+FEFF: the decoder must keep it.
		assert.deepEqual(topicsOf(publish(bytes(0xef, 0xbb, 0xbf, 0x61))).topics, ["\ufeffa"]);
		// A real U+FFFD is a valid character.
		assert.deepEqual(topicsOf(publish(bytes(0x61, 0xef, 0xbf, 0xbd))).topics, ["a\ufffd"]);
		for (const malformed of [bytes(0x61, 0xff), bytes(0xc0, 0xaf), bytes(0xed, 0xa0, 0x80), bytes(0x61, 0xe2, 0x82)]) {
			assert.deepEqual(topicsOf(publish(malformed)), { topics: [], errors: ["PUBLISH topic is not valid UTF-8 or contains U+0000"] }, malformed.join());
		}
		// Malformed bytes that decode to the same text as the valid topic just before are still refused.
		assert.deepEqual(topicsOf(publish(bytes(0x61, 0xef, 0xbf, 0xbd)), publish(bytes(0x61, 0xff))),
			{ topics: ["a\ufffd"], errors: ["PUBLISH topic is not valid UTF-8 or contains U+0000"] });
		// A repeated topic skips the scan; a new one never does.
		assert.deepEqual(topicsOf(publish(ascii("a/b")), publish(ascii("a/b")), publish(ascii("a/+"))),
			{ topics: ["a/b", "a/b"], errors: ["PUBLISH topic must not contain wildcards"] });
		assert.deepEqual(topicsOf(publish(ascii("a/b")), publish(bytes(0x61, 0x00))),
			{ topics: ["a/b"], errors: ["PUBLISH topic must not contain U+0000"] });
	},
});
