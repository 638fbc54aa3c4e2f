/*
 * Outbound PUBLISH bytes are written in one module, mqtt/publish-buffers:
 * a small message into its topic's prepared buffer (the fast path, the
 * in-flight send and re-send with DUP), and any other by its encoder. Every
 * way out of the session (publish, publishWith, pulled, re-sent, the birth
 * message) is held here to that encoder and to mqtt-packet, the reference
 * codec: across topics,
 * QoS, retain, payload sizes either side of the remaining length's one-,
 * two- and three-byte boundaries, and packet ids through their wrap.
 */
import assert from "node:assert/strict";
import mqttPacket from "mqtt-packet";
import { publishSize } from "mqtt/codec";
import { encodePublishInto } from "mqtt/publish-buffers";
import { PacketType, type QoS } from "mqtt/packets";
import { encodeUtf8 } from "utf8";
import { hex } from "test/lib/fake-host";
import { encode } from "test/lib/broker-codec";
import { open, rig, type Rig } from "test/portable/mqtt-session-contract";

const topics = ["t", "sensors/room1/temp", "temp/°C/ü", "x".repeat(100), "a/".repeat(100) + "z"];
const qosLevels: QoS[] = [0, 1, 2];

/** The bytes both encoders write for one PUBLISH; they must agree before they judge the session. */
function expected(topic: string, payload: Uint8Array, qos: QoS, retain: boolean, dup: boolean, packetId: number): string {
	const topicBytes = encodeUtf8(topic);
	const codec = new Uint8Array(publishSize(topicBytes.length, payload.length, qos));
	assert.equal(encodePublishInto(codec, topicBytes, payload, qos, retain, dup, packetId), codec.length);
	const reference = mqttPacket.generate({
		cmd: "publish", topic, payload: Buffer.from(payload), qos, retain, dup, ...(qos > 0 ? { messageId: packetId } : {}),
	});
	assert.equal(hex(codec), hex(reference), `the codec and mqtt-packet disagree on ${topic} QoS ${qos}, ${payload.length} bytes`);
	return hex(codec);
}

/** Payload lengths that put the remaining length either side of 127/128 and 16383/16384, and those lengths themselves. */
function payloadLengths(topic: string, qos: QoS): number[] {
	const base = 2 + encodeUtf8(topic).length + (qos > 0 ? 2 : 0);
	const lengths = new Set([0, 1, 127, 128, 16383, 16384]);
	for (const remaining of [125, 126, 127, 128, 129, 16383, 16384]) if (remaining >= base) lengths.add(remaining - base);
	return [...lengths].sort((a, b) => a - b);
}

function payloadOf(length: number, seed: number): Uint8Array {
	const payload = new Uint8Array(length);
	for (let i = 0; i < length; i++) payload[i] = (i * 31 + seed) & 0xff;
	return payload;
}

function connectedRig(maxInflight = 4): Rig {
	const r = rig({ outbox: { maxMessages: 10, maxBytes: 1 << 20, policy: "drop-oldest" }, maxInflight });
	open(r, 0);
	return r;
}

/** Acknowledges what the session has in flight with this id, as a broker would: QoS 1 by PUBACK, QoS 2 by PUBREC, PUBREL, PUBCOMP. */
function complete(r: Rig, now: number, qos: QoS, packetId: number): void {
	if (qos === 0) return;
	if (qos === 1) {
		r.session.receive(now, encode({ type: PacketType.Puback, packetId }));
	} else {
		r.session.receive(now, encode({ type: PacketType.Pubrec, packetId }));
		assert.equal(hex(r.session.transmit(now)!), hex(encode({ type: PacketType.Pubrel, packetId })));
		r.session.receive(now, encode({ type: PacketType.Pubcomp, packetId }));
	}
}

describe("outbound PUBLISH bytes: the session's every way out equals the codec and mqtt-packet", function () {
	it("handed out at once (the fast path when small), and pulled from transmit()", function () {
		let compared = 0;
		for (const topic of topics) {
			for (const qos of qosLevels) {
				const r = connectedRig();
				let packetId = 0;
				for (const length of payloadLengths(topic, qos)) {
					for (const retain of [false, true]) {
						const payload = payloadOf(length, compared);
						// Room for anything: returned by publish() itself.
						if (qos > 0) packetId++;
						assert.equal(r.session.status.quiet, true);
						const handed = r.session.publish(1, topic, payload, qos, retain, 1 << 20);
						assert.ok(handed instanceof Uint8Array, `${topic} QoS ${qos}, ${length} bytes: not handed out at once`);
						assert.equal(hex(handed), expected(topic, payload, qos, retain, false, packetId), `handed out: ${topic} QoS ${qos}, ${length} bytes, retain ${retain}`);
						complete(r, 1, qos, packetId);
						assert.equal(r.session.inflight, 0);
						// No room: taken, then pulled.
						if (qos > 0) packetId++;
						assert.equal(r.session.publish(2, topic, payload, qos, retain, 0), true);
						const pulled = r.session.transmit(2);
						assert.ok(pulled !== undefined);
						assert.equal(hex(pulled), expected(topic, payload, qos, retain, false, packetId), `pulled: ${topic} QoS ${qos}, ${length} bytes, retain ${retain}`);
						assert.equal(r.session.transmit(2), undefined);
						complete(r, 2, qos, packetId);
						assert.equal(r.session.inflight, 0);
						compared += 2;
					}
				}
			}
		}
		assert.ok(compared > 300, `only ${compared} packets compared`);
	});

	it("with publishWith's options (a state, an outcome), handed out at once and pulled", function () {
		let compared = 0;
		for (const topic of topics) {
			for (const qos of qosLevels) {
				const r = connectedRig();
				let packetId = 0;
				for (const length of payloadLengths(topic, qos)) {
					const payload = payloadOf(length, compared);
					const outcomes: string[] = [];
					const onOutcome = (outcome: string): void => void outcomes.push(outcome);
					if (qos > 0) packetId++;
					const handed = r.session.publishWith(1, topic, payload, qos, true, 1 << 20, true, onOutcome);
					assert.ok(handed instanceof Uint8Array, `${topic} QoS ${qos}, ${length} bytes: not handed out at once`);
					assert.equal(hex(handed), expected(topic, payload, qos, true, false, packetId), `handed out: ${topic} QoS ${qos}, ${length} bytes`);
					complete(r, 1, qos, packetId);
					if (qos > 0) packetId++;
					assert.equal(r.session.publishWith(2, topic, payload, qos, false, 0, true, onOutcome), true);
					assert.equal(hex(r.session.transmit(2)!), expected(topic, payload, qos, false, false, packetId), `pulled: ${topic} QoS ${qos}, ${length} bytes`);
					complete(r, 2, qos, packetId);
					assert.deepEqual(outcomes, qos === 0 ? ["written", "written"] : ["acknowledged", "acknowledged"]);
					compared += 2;
				}
			}
		}
		assert.ok(compared > 100, `only ${compared} packets compared`);
	});

	it("the birth message, at QoS 0 and 1, small and large, as the codec writes it", function () {
		for (const topic of topics) {
			for (const qos of [0, 1] as const) {
				for (const length of payloadLengths(topic, qos)) {
					const payload = payloadOf(length, length);
					const r = rig({ outbox: { maxMessages: 10, maxBytes: 1 << 20, policy: "drop-oldest" }, birth: { topic, payload, qos, retain: true } });
					r.session.connect(0);
					r.session.transportOpened(0);
					assert.ok(r.session.transmit(0) !== undefined, "CONNECT");
					r.session.receive(0, encode({ type: PacketType.Connack, sessionPresent: false, returnCode: 0 }));
					assert.equal(hex(r.session.transmit(0)!), expected(topic, payload, qos, true, false, qos === 0 ? 0 : 1), `birth: ${topic} QoS ${qos}, ${length} bytes`);
					assert.equal(r.session.transmit(0), undefined);
				}
			}
		}
	});

	it("sent again with DUP on a resumed session, from the prepared buffer or the codec", function () {
		for (const topic of topics) {
			for (const qos of [1, 2] as const) {
				const lengths = payloadLengths(topic, qos);
				const r = connectedRig(lengths.length);
				const payloads = lengths.map((length, i) => payloadOf(length, i));
				for (const payload of payloads) assert.equal(r.session.publish(1, topic, payload, qos, false, 0), true);
				// All go out, then the link drops before any is acknowledged.
				for (let i = 0; i < payloads.length; i++) assert.ok(r.session.transmit(1) !== undefined);
				assert.equal(r.session.transmit(1), undefined);
				r.session.abort(2, "link lost");
				r.session.connect(3);
				r.session.transportOpened(3);
				assert.ok(r.session.transmit(3) !== undefined, "CONNECT");
				r.session.receive(3, encode({ type: PacketType.Connack, sessionPresent: true, returnCode: 0 }));
				let packetId = 0;
				for (let sent = r.session.transmit(3); sent !== undefined; sent = r.session.transmit(3)) {
					packetId++;
					const payload = payloads[packetId - 1]!;
					assert.equal(hex(sent), expected(topic, payload, qos, false, true, packetId), `DUP: ${topic} QoS ${qos}, ${payload.length} bytes, id ${packetId}`);
					complete(r, 3, qos, packetId);
				}
				assert.equal(packetId, payloads.length, "every message sent before the drop went again");
				assert.equal(r.session.stats.retransmitted, payloads.length);
			}
		}
	});

	it("a message whose topic left the cache of prepared topics while it waited goes out as the codec writes it", function () {
		const r = connectedRig();
		const first = encodeUtf8("21.50"), second = encodeUtf8("21.75");
		assert.equal(r.session.publish(1, "held", first, 1, true, 0), true);
		// More topics than the session keeps encoded, while it waits: "held" is dropped from the cache.
		for (let i = 0; i < 20; i++) assert.equal(r.session.publish(1, `other/${i}`, first, 0, false, 0), true);
		assert.equal(hex(r.session.transmit(1)!), expected("held", first, 1, true, false, 1));
		// The outbox kept the newest 10 of the others.
		for (let i = 10; i < 20; i++) assert.equal(hex(r.session.transmit(1)!), expected(`other/${i}`, first, 0, false, false, 0));
		assert.equal(r.session.transmit(1), undefined);
		// Prepared afresh, on the fast path.
		const handed = r.session.publish(1, "held", second, 1, false, 1 << 20);
		assert.ok(handed instanceof Uint8Array);
		assert.equal(hex(handed), expected("held", second, 1, false, false, 2));
		r.session.abort(2, "link lost");
		r.session.connect(3);
		r.session.transportOpened(3);
		assert.ok(r.session.transmit(3) !== undefined, "CONNECT");
		r.session.receive(3, encode({ type: PacketType.Connack, sessionPresent: true, returnCode: 0 }));
		assert.equal(hex(r.session.transmit(3)!), expected("held", first, 1, true, true, 1));
		assert.equal(hex(r.session.transmit(3)!), expected("held", second, 1, false, true, 2));
	});

	it("packet ids through 255/256 and the wrap from 65535 to 1, on the fast path", function () {
		const r = connectedRig();
		const payload = encodeUtf8("21.50");
		const checked = new Set([1, 2, 255, 256, 257, 65534, 65535]);
		let seen = 0;
		for (let i = 1; i <= 65537; i++) {
			const id = ((i - 1) % 65535) + 1;
			const handed = r.session.publish(i, "sensors/room1/temp", payload, 1, false, 1536);
			assert.ok(handed instanceof Uint8Array);
			if (checked.has(id) || i > 65535) {
				assert.equal(hex(handed), expected("sensors/room1/temp", payload, 1, false, false, id), `id ${id}`);
				seen++;
			}
			r.session.receive(i, encode({ type: PacketType.Puback, packetId: id }));
		}
		assert.equal(seen, checked.size + 2);
	});
});
