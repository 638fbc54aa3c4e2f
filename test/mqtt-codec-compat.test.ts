/*
 * Our codec held against mqtt-packet, the reference codec: what we encode,
 * it parses to the same fields; what it generates across its fields' edge
 * values, we decode to the same fields.
 */
import assert from "node:assert/strict";
import mqttPacket from "mqtt-packet";
import { decode, encode } from "test/lib/broker-codec";
import { PacketType, type Packet } from "mqtt/packets";
import { samplePackets } from "test/portable/mqtt-codec";

const names: Record<number, string> = {
	1: "connect", 2: "connack", 3: "publish", 4: "puback", 5: "pubrec", 6: "pubrel", 7: "pubcomp",
	8: "subscribe", 9: "suback", 10: "unsubscribe", 11: "unsuback", 12: "pingreq", 13: "pingresp", 14: "disconnect",
};

function parseWithReference(bytes: Uint8Array): mqttPacket.Packet {
	const parser = mqttPacket.parser({ protocolVersion: 4 });
	const packets: mqttPacket.Packet[] = [];
	const errors: Error[] = [];
	parser.on("packet", (packet) => packets.push(packet));
	parser.on("error", (error) => errors.push(error));
	parser.parse(Buffer.from(bytes));
	assert.deepEqual(errors, []);
	assert.equal(packets.length, 1);
	return packets[0]!;
}

/** Our packet as mqtt-packet would describe it, for comparison. */
function asReference(packet: Packet): Record<string, unknown> {
	const cmd = names[packet.type]!;
	switch (packet.type) {
		case PacketType.Connect:
			return {
				cmd, clientId: packet.clientId, clean: packet.cleanSession, keepalive: packet.keepalive,
				username: packet.username, password: packet.password && Buffer.from(packet.password),
				will: packet.will && { topic: packet.will.topic, payload: Buffer.from(packet.will.payload), qos: packet.will.qos, retain: packet.will.retain },
			};
		case PacketType.Connack:
			return { cmd, sessionPresent: packet.sessionPresent, returnCode: packet.returnCode };
		case PacketType.Publish:
			return { cmd, topic: packet.topic, payload: Buffer.from(packet.payload), qos: packet.qos, retain: packet.retain, dup: packet.dup, messageId: packet.packetId };
		case PacketType.Subscribe:
			return { cmd, messageId: packet.packetId, subscriptions: packet.subscriptions.map((s) => ({ topic: s.filter, qos: s.qos })) };
		case PacketType.Suback:
			return { cmd, messageId: packet.packetId, granted: packet.returnCodes };
		case PacketType.Unsubscribe:
			return { cmd, messageId: packet.packetId, unsubscriptions: packet.filters };
		case PacketType.Pingreq:
		case PacketType.Pingresp:
		case PacketType.Disconnect:
			return { cmd };
		default:
			return { cmd, messageId: packet.packetId };
	}
}

function pick(reference: mqttPacket.Packet, fields: string[]): Record<string, unknown> {
	const result: Record<string, unknown> = {};
	const source = reference as unknown as Record<string, unknown>;
	for (const field of fields) {
		let value = source[field];
		if (field === "will" && value) {
			const will = value as Record<string, unknown>;
			value = { topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain };
		}
		if (field === "subscriptions" && Array.isArray(value)) value = value.map((s: { topic: string; qos: number }) => ({ topic: s.topic, qos: s.qos }));
		result[field] = value;
	}
	return result;
}

describe("codec compatibility with mqtt-packet", function () {
	it("every packet we encode parses with mqtt-packet to the same fields", function () {
		for (const packet of samplePackets()) {
			const expected = asReference(packet);
			const parsed = parseWithReference(encode(packet));
			assert.deepEqual(pick(parsed, Object.keys(expected)), expected, `${expected.cmd as string}`);
		}
	});

	it("every packet mqtt-packet generates across its fields' edge values decodes to the same fields", function () {
		const topics = ["a", "sensors/room1/temp", "é/温度/😀", "x".repeat(65535)];
		const payloads = [Buffer.alloc(0), Buffer.from("on"), Buffer.alloc(127), Buffer.alloc(16384, 7)];
		const generated: mqttPacket.Packet[] = [];
		for (const topic of topics) {
			for (const payload of payloads) {
				for (const qos of [0, 1, 2] as const) {
					for (const retain of [false, true]) {
						generated.push({ cmd: "publish", topic, payload, qos, retain, dup: qos > 0 && retain, ...(qos > 0 ? { messageId: qos === 1 ? 1 : 65535 } : {}) } as mqttPacket.IPublishPacket);
					}
				}
			}
		}
		for (const returnCode of [0, 1, 2, 3, 4, 5]) generated.push({ cmd: "connack", returnCode, sessionPresent: returnCode === 0 });
		for (const cmd of ["puback", "pubrec", "pubrel", "pubcomp", "unsuback"] as const) for (const messageId of [1, 256, 65535]) generated.push({ cmd, messageId } as mqttPacket.Packet);
		generated.push({ cmd: "suback", messageId: 7, granted: [0, 1, 2, 128] });
		generated.push({ cmd: "pingresp" }, { cmd: "pingreq" }, { cmd: "disconnect" });
		generated.push({ cmd: "subscribe", messageId: 9, subscriptions: [{ topic: "control/+/led", qos: 1 }, { topic: "#", qos: 2 }] } as mqttPacket.ISubscribePacket);
		generated.push({ cmd: "unsubscribe", messageId: 10, unsubscriptions: ["a/#", "b"] });
		for (const keepalive of [0, 60, 65535]) {
			generated.push({
				cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clean: keepalive !== 60, clientId: keepalive ? "room1" : "", keepalive,
				...(keepalive === 60 ? { username: "user", password: Buffer.from("secret"), will: { topic: "s/status", payload: Buffer.from("offline"), qos: 1, retain: true } } : {}),
			} as mqttPacket.IConnectPacket);
		}
		let checked = 0;
		for (const reference of generated) {
			const bytes = mqttPacket.generate(reference, { protocolVersion: 4 });
			const ours = decode(new Uint8Array(bytes));
			assert.ok(typeof ours !== "string", `${reference.cmd}: ${ours as string}`);
			const expected = asReference(ours as Packet);
			const reparsed = parseWithReference(new Uint8Array(bytes));
			assert.deepEqual(expected, pick(reparsed, Object.keys(expected)), reference.cmd);
			checked++;
		}
		assert.equal(checked, generated.length);
		assert.ok(checked >= 120, `only ${checked} packets`);
	});
});
