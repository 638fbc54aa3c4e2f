/*
 * Session state machine scenarios on a virtual clock: every timer rule,
 * QoS 1 and 2 both ways, the outbox, and protocol errors. They drive the
 * real client against a scripted broker (test/lib/fake-host).
 */
import { defineSuite } from "test/lib/suite";
import * as assert from "test/lib/assert";
import { FakeHost, concat, hex, seededRandom, text } from "test/lib/fake-host";
import { MqttClient, type ClientOptions, type InboundMessage } from "mqtt/client";
import { Session } from "mqtt/session";
import { PacketType, type PublishPacket, type QoS } from "mqtt/packets";
import { encode } from "test/lib/broker-codec";
import { encodeUtf8 } from "utf8";

interface Rig {
	host: FakeHost;
	client: MqttClient;
	states: string[];
	errors: string[];
	messages: InboundMessage[];
}

type RigOptions = Omit<Partial<ClientOptions>, "host"> & { host?: FakeHost };

function rig(options: RigOptions = {}): Rig {
	const host = options.host ?? new FakeHost();
	const states: string[] = [];
	const errors: string[] = [];
	const messages: InboundMessage[] = [];
	const client = new MqttClient({
		host, address: "127.0.0.1", port: 1883, clientId: "test", keepalive: 30, pingTimeout: 5000, connackTimeout: 10000,
		backoff: { minimum: 1000, maximum: 60000, factor: 2 }, random: seededRandom(7),
		onStateChange: (state) => states.push(state),
		onError: (kind, message) => errors.push(`${kind}: ${message}`),
		onMessage: (message) => messages.push({ ...message, payload: message.payload.slice() }),
		...options,
	});
	return { host, client, states, errors, messages };
}

function connected(r: Rig): void {
	r.client.start();
	r.host.virtual.advance(1);
	assert.equal(r.client.state, "connected");
}

function sentTypes(r: Rig): number[] {
	return r.host.broker.current!.received.map((packet) => packet.type);
}

/** A rig whose exact subscriptions may take the direct lane: no catch-all `onMessage` hook. */
function laneRig(options: RigOptions = {}): Rig {
	return rig({ onMessage: undefined, ...options });
}

/** The direct lane hands over a record whose topic is read-only; the layered path's is not. */
function viaDirectLane(message: InboundMessage): boolean {
	return Object.getOwnPropertyDescriptor(message, "topic")?.writable === false;
}

function publishBytes(topic: string, payload: string | Uint8Array, qos: QoS = 0, retain = false): Uint8Array {
	const bytes = typeof payload === "string" ? encodeUtf8(payload) : payload;
	return encode({ type: PacketType.Publish, topic, payload: bytes, qos, retain, dup: false, ...(qos > 0 ? { packetId: 7 } : {}) });
}

/**
 * One inbound packet for the direct-lane comparison: mostly QoS 0 PUBLISHes
 * of every size on direct and other topics, some retained or QoS 1, a
 * PINGRESP, and malformed packets shaped to look like the lane's own.
 */
function lanePacket(random: () => number): Uint8Array {
	const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]!;
	// Half on the two direct topics; the rest shared with a wildcard, non-ASCII, unsubscribed, a prefix, over the limit.
	const topics = random() < 0.5 ? ["control/room1/led", "c/x"] : ["w/a", "w/b", "c/\u00e9", "z/none", "control/room1/le", "c/" + "y".repeat(45)];
	const payload = new Uint8Array(Math.floor(random() * 140));
	for (let i = 0; i < payload.length; i++) payload[i] = Math.floor(random() * 256);
	const roll = random();
	if (roll < 0.6) return publishBytes(pick(topics), payload);
	if (roll < 0.7) return publishBytes(pick(topics), payload, 0, true);
	if (roll < 0.75) return publishBytes(pick(topics), payload, 1);
	if (roll < 0.77) {
		// QoS 1 with packet id 0, which MQTT forbids.
		const zero = publishBytes(pick(topics), payload.subarray(0, 20), 1);
		zero[4 + zero[3]!] = zero[5 + zero[3]!] = 0;
		return zero;
	}
	if (roll < 0.78) return random() < 0.5 ? Uint8Array.of(0xd0, 0x00) : Uint8Array.of(0x40, 0x02, 0x00, 0x07);
	const valid = publishBytes(pick(topics), payload.subarray(0, 20));
	const broken = valid.slice();
	switch (Math.floor(random() * 7)) {
		case 0: // The topic length runs past the packet.
			broken[3] = broken[3]! + 1 + Math.floor(random() * 30);
			return broken;
		case 1: // The topic length is 256 more than it is.
			broken[2] = 1;
			return broken;
		case 2: // QoS 0 with DUP.
			broken[0] = 0x38;
			return broken;
		case 3: { // The same packet with its length in two bytes (0x80 | n, 0): no minimal encoding.
			const longer = new Uint8Array(valid.length + 1);
			longer.set([0x30, 0x80 | valid[1]!, 0x00]);
			longer.set(valid.subarray(2), 3);
			return longer;
		}
		case 4: // A wildcard or U+0000 in the topic.
			broken[4 + Math.floor(random() * (broken[3]! - 1))] = pick([0x2b, 0x23, 0x00]);
			return broken;
		case 5: // An empty topic.
			return concat([Uint8Array.of(0x30, 2 + 3, 0, 0), encodeUtf8("abc")]);
		default: // One byte anywhere flipped.
			broken[Math.floor(random() * broken.length)] ^= 1 << Math.floor(random() * 8);
			return broken;
	}
}

/** Everything a session shows of what it received: deliveries, errors, states and counters. */
function laneOutcome(stream: Uint8Array[], byteByByte: boolean): { record: string[]; direct: number } {
	const r = laneRig({ maxTopicBytes: 40 });
	const record: string[] = [];
	let direct = 0;
	const handler = (name: string) => (m: InboundMessage) => {
		if (viaDirectLane(m)) direct++;
		record.push(`${name} ${m.topic} ${hex(m.payload)} q${m.qos} r${m.retain} d${m.dup}`);
	};
	r.client.subscribe("control/room1/led", 0, handler("led"));
	r.client.subscribe("c/x", 0, handler("x"));
	r.client.subscribe("w/+", 0, handler("w+"));
	r.client.subscribe("w/a", 0, handler("wa"));
	r.client.subscribe("c/\u00e9", 0, handler("e"));
	r.client.subscribe("c/" + "y".repeat(45), 0, handler("long"));
	connected(r);
	const connection = r.host.broker.current!;
	const answered = connection.received.length;
	for (const chunk of stream) {
		if (byteByByte) for (let i = 0; i < chunk.length; i++) connection.sendBytes(chunk.subarray(i, i + 1));
		else connection.sendBytes(chunk);
	}
	const { received, protocolErrors, skipped } = r.client.stats;
	// Acknowledgements go out when an input is done, so a fatal error later in the same chunk takes
	// them with the connection: they compare only on streams that broke no rule.
	if (protocolErrors === 0) record.push(`answered ${connection.received.slice(answered).map((packet) => `${packet.type}#${(packet as { packetId?: number }).packetId ?? ""}`).join(" ")}`);
	record.push(`errors ${r.errors.join(" | ")}`, `states ${r.states.join(" ")}`, `received ${received} protocol errors ${protocolErrors} skipped ${skipped}`);
	return { record, direct };
}

export const suite = defineSuite("MQTT client on a virtual clock", {
	"connects: CONNECT then CONNACK, with the configured keepalive and will"() {
		const r = rig({ will: { topic: "s/status", payload: "offline", qos: 1, retain: true } });
		connected(r);
		const connect = r.host.broker.connections[0]!.received[0]!;
		assert.equal(connect.type, PacketType.Connect);
		if (connect.type !== PacketType.Connect) return;
		assert.equal(connect.keepalive, 30);
		assert.equal(connect.will?.topic, "s/status");
		assert.equal(connect.will?.retain, true);
		assert.deepEqual(r.states, ["connecting", "connected"]);
		assert.equal(r.client.stats.connects, 1);
	},

	"gives up on a silent broker after the CONNACK timeout and backs off"() {
		const r = rig();
		r.host.broker.behaviour.silentConnack = true;
		r.client.start();
		r.host.virtual.advance(9999);
		assert.equal(r.client.state, "connecting");
		r.host.virtual.advance(1);
		assert.equal(r.client.state, "waiting");
		assert.ok(r.errors.some((e) => /timeout: no CONNACK within 10000 ms/.test(e)), r.errors.join());
		assert.equal(r.host.broker.connections[0]!.open, false);
		// The next attempt comes after the backoff delay, never at once.
		assert.equal(r.host.broker.connections.length, 1);
		r.host.virtual.advance(1000);
		assert.equal(r.host.broker.connections.length, 2);
	},

	"pings only when the link has been idle for the keepalive"() {
		const r = rig();
		connected(r);
		r.host.virtual.advance(29000);
		assert.ok(!sentTypes(r).includes(PacketType.Pingreq), "no ping before keepalive");
		r.host.virtual.advance(1000);
		assert.equal(sentTypes(r).filter((t) => t === PacketType.Pingreq).length, 1);
		assert.equal(r.client.state, "connected");
		assert.equal(r.client.stats.lastRoundTrip, 0);
	},

	"sends no ping while QoS 1 traffic flows within each keepalive"() {
		const r = rig();
		connected(r);
		for (let i = 0; i < 10; i++) {
			r.host.virtual.advance(10000);
			r.client.publish("s/t", `reading ${i}`, { qos: 1 });
		}
		assert.equal(sentTypes(r).filter((t) => t === PacketType.Pingreq).length, 0);
	},

	"closes a half-open link when no PINGRESP comes within the ping timeout"() {
		const r = rig();
		connected(r);
		r.host.broker.behaviour.silentPings = true;
		r.host.virtual.advance(30000 + 4999);
		assert.equal(r.client.state, "connected");
		r.host.virtual.advance(1);
		assert.equal(r.client.state, "waiting");
		assert.ok(r.errors.some((e) => /no PINGRESP within 5000 ms/.test(e)));
	},

	"notices a dead link within keepalive + ping timeout even while busy publishing QoS 0"() {
		const r = rig();
		connected(r);
		r.host.broker.behaviour.silentPings = true;
		let detectedAt = -1;
		for (let t = 0; t < 60000 && detectedAt < 0; t += 500) {
			r.host.virtual.advance(500);
			if (r.client.state === "connected") r.client.publish("s/t", "x", { qos: 0 });
			else detectedAt = r.host.virtual.now;
		}
		assert.ok(detectedAt > 0 && detectedAt <= 1 + 30000 + 5000 + 500, `detected at ${detectedAt}`);
	},

	"backs off exponentially with full jitter, bounded by the maximum"() {
		const r = rig({ backoff: { minimum: 1000, maximum: 8000, factor: 2 } });
		r.host.broker.up = false;
		r.client.start();
		const attempts: number[] = [];
		let last = r.host.broker.connections.length;
		for (let t = 0; t < 120000; t += 10) {
			r.host.virtual.advance(10);
			if (r.host.broker.connections.length !== last) {
				last = r.host.broker.connections.length;
				attempts.push(r.host.virtual.now);
			}
		}
		const gaps = attempts.slice(1).map((time, i) => time - attempts[i]!);
		assert.ok(gaps.length >= 10, `only ${gaps.length} retries`);
		const ceilings = [1000, 2000, 4000, 8000];
		gaps.forEach((gap, i) => {
			const ceiling = ceilings[Math.min(i + 1, 3)]!;
			assert.ok(gap >= 1000 && gap <= ceiling + 20, `gap ${i} = ${gap} outside [1000, ${ceiling}]`);
		});
		// Jitter: not all the same.
		assert.ok(new Set(gaps).size > 3, "delays are jittered");
		assert.equal(r.client.stats.failedAttempts, attempts.length + 1);
	},

	"waits the maximum after a refusal for bad credentials or authorisation"() {
		for (const code of [4, 5]) {
			const r = rig({ backoff: { minimum: 1000, maximum: 30000, factor: 2 } });
			r.host.broker.behaviour.connackCode = code;
			r.client.start();
			r.host.virtual.advance(1);
			assert.equal(r.client.state, "waiting");
			assert.ok(r.errors.some((e) => e.startsWith("refused:") && e.includes(`(${code})`)), r.errors.join());
			r.host.virtual.advance(29998);
			assert.equal(r.host.broker.connections.length, 1, `code ${code}: retried before the maximum`);
			r.host.virtual.advance(2);
			assert.equal(r.host.broker.connections.length, 2);
		}
	},

	"retries sooner after refusals 1-3, which may pass"() {
		for (const code of [1, 2, 3]) {
			const r = rig({ backoff: { minimum: 1000, maximum: 30000, factor: 2 } });
			r.host.broker.behaviour.connackCode = code;
			r.client.start();
			r.host.virtual.advance(1001);
			assert.equal(r.host.broker.connections.length, 2, `code ${code}`);
		}
	},

	"resets the backoff after a successful connection"() {
		const r = rig({ backoff: { minimum: 1000, maximum: 60000, factor: 2 } });
		r.host.broker.up = false;
		r.client.start();
		r.host.virtual.advance(20000);
		assert.ok(r.client.backoff.attempt > 2);
		r.host.broker.up = true;
		r.host.virtual.advance(60000);
		assert.equal(r.client.state, "connected");
		assert.equal(r.client.backoff.attempt, 0);
	},

	"resubscribes when the broker has no session, not when it has one"() {
		const r = rig();
		r.client.subscribe("c/led", 1);
		connected(r);
		assert.equal(sentTypes(r).filter((t) => t === PacketType.Subscribe).length, 1);
		r.host.broker.behaviour.sessionPresent = true;
		r.host.broker.current!.drop();
		r.host.virtual.advance(2000);
		assert.equal(r.client.state, "connected");
		assert.equal(sentTypes(r).filter((t) => t === PacketType.Subscribe).length, 0, "session present: no SUBSCRIBE");
		r.host.broker.behaviour.sessionPresent = false;
		r.host.broker.current!.drop();
		r.host.virtual.advance(5000);
		assert.equal(sentTypes(r).filter((t) => t === PacketType.Subscribe).length, 1, "no session: SUBSCRIBE again");
	},

	"reports a refused subscription"() {
		const r = rig();
		r.host.broker.behaviour.refuseFilters = ["c/secret"];
		const results: number[] = [];
		r.client.subscribe("c/secret", 1, undefined, (code) => results.push(code));
		connected(r);
		assert.ok(r.errors.some((e) => /subscription: broker refused the subscription to c\/secret/.test(e)));
		assert.deepEqual(results, [0x80]);
	},

	"retransmits unacknowledged QoS 1 and 2 with DUP only after reconnecting, in order"() {
		const r = rig();
		connected(r);
		r.host.broker.behaviour.withholdAcks = true;
		r.client.publish("s/a", "one", { qos: 1 });
		r.client.publish("s/a", "two", { qos: 2 });
		r.client.publish("s/a", "three", { qos: 1 });
		// While connected nothing is resent, however long the acks take.
		r.host.virtual.advance(25000);
		assert.equal(r.host.broker.published.length, 3);
		assert.equal(r.client.stats.retransmitted, 0);
		r.host.broker.behaviour.withholdAcks = false;
		r.host.broker.behaviour.sessionPresent = true;
		r.host.broker.current!.drop();
		r.host.virtual.advance(2000);
		const resent = r.host.broker.published.slice(3);
		assert.deepEqual(resent.map((p) => [text(p.payload), p.dup, p.qos]), [["one", true, 1], ["two", true, 2], ["three", true, 1]]);
		assert.deepEqual(resent.map((p) => p.packetId), r.host.broker.published.slice(0, 3).map((p) => p.packetId));
		assert.equal(r.client.inflight, 0);
		assert.equal(r.client.stats.retransmitted, 3);
	},

	"completes QoS 2 outbound: PUBREC, PUBREL, PUBCOMP"() {
		const r = rig();
		connected(r);
		r.client.publish("s/a", "exactly once", { qos: 2 });
		// PUBREC comes on the next turn, PUBCOMP on the one after.
		r.host.virtual.advance(0);
		const types = sentTypes(r);
		assert.ok(types.includes(PacketType.Pubrel), "PUBREL sent after PUBREC");
		assert.equal(r.client.inflight, 0);
	},

	"delivers inbound QoS 2 exactly once, even when the broker resends before PUBREL"() {
		const r = rig();
		r.client.subscribe("c/#", 2);
		connected(r);
		const connection = r.host.broker.current!;
		const publish: PublishPacket = { type: PacketType.Publish, topic: "c/x", payload: Uint8Array.of(0x41), qos: 2, retain: false, dup: false, packetId: 9 };
		connection.sendPacket(publish);
		connection.sendPacket({ ...publish, dup: true });
		assert.equal(r.messages.length, 1);
		assert.equal(r.client.stats.duplicatesIgnored, 1);
		const pubrecs = connection.received.filter((p) => p.type === PacketType.Pubrec);
		assert.equal(pubrecs.length, 2, "each copy is acknowledged");
		connection.sendPacket({ type: PacketType.Pubrel, packetId: 9 });
		assert.ok(connection.received.some((p) => p.type === PacketType.Pubcomp));
		// After PUBREL the id is free: a new message with it is new.
		connection.sendPacket(publish);
		assert.equal(r.messages.length, 2);
	},

	"delivers inbound QoS 2 exactly once across a resumed session: the PUBREC lost with the connection, the PUBLISH resent with DUP"() {
		const r = rig();
		r.client.subscribe("c/#", 2);
		connected(r);
		const publish: PublishPacket = { type: PacketType.Publish, topic: "c/x", payload: Uint8Array.of(0x41), qos: 2, retain: false, dup: false, packetId: 9 };
		r.host.broker.current!.sendPacket(publish);
		assert.equal(r.messages.length, 1);
		// The link dies before the broker sees PUBREC; the broker kept the session and resends.
		r.host.broker.current!.drop();
		r.host.broker.behaviour.sessionPresent = true;
		r.host.virtual.advance(2000);
		assert.equal(r.client.state, "connected");
		const resumed = r.host.broker.current!;
		resumed.sendPacket({ ...publish, dup: true });
		r.host.virtual.advance(0);
		assert.equal(r.messages.length, 1, "not delivered again");
		assert.equal(r.client.stats.duplicatesIgnored, 1);
		assert.ok(resumed.received.some((p) => p.type === PacketType.Pubrec), "acknowledged again");
		resumed.sendPacket({ type: PacketType.Pubrel, packetId: 9 });
		r.host.virtual.advance(0);
		assert.ok(resumed.received.some((p) => p.type === PacketType.Pubcomp));
		// A new session forgets the ids: the same id is then a new message.
		resumed.drop();
		r.host.broker.behaviour.sessionPresent = false;
		r.host.virtual.advance(3000);
		r.host.broker.current!.sendPacket(publish);
		assert.equal(r.messages.length, 2);
	},

	"publishes the birth message once per CONNACK: new session, resumed session, and with the last one never acknowledged"() {
		const birth = { topic: "s/status", payload: "online", qos: 1 as const, retain: true };
		const onlines = (r: Rig): number[] => r.host.broker.connections.map((c) => c.received.filter((p) => p.type === PacketType.Publish && (p as PublishPacket).topic === "s/status").length);
		for (const sessionPresent of [false, true]) {
			const r = rig({ birth });
			connected(r);
			r.host.virtual.advance(0);
			// The next birth stays unacknowledged, and the link drops with it in flight.
			r.host.broker.behaviour.withholdAcks = true;
			r.host.broker.current!.drop();
			r.host.virtual.advance(2000);
			r.host.broker.behaviour.withholdAcks = false;
			r.host.broker.behaviour.sessionPresent = sessionPresent;
			r.host.broker.current!.drop();
			r.host.virtual.advance(4000);
			assert.equal(r.client.state, "connected");
			assert.equal(r.client.stats.connects, 3);
			assert.deepEqual(onlines(r), [1, 1, 1], `session present ${sessionPresent}`);
			const third = r.host.broker.connections[2]!.received.find((p) => p.type === PacketType.Publish) as PublishPacket;
			assert.equal(third.dup, sessionPresent, "a resumed session completes the earlier one's flow, with DUP");
			assert.equal(r.client.inflight, 0);
		}
	},

	"reports each subscription's granted QoS or refusal once, and each UNSUBACK, even for a filter unknown here"() {
		const r = rig();
		r.host.broker.behaviour.refuseFilters = ["c/secret"];
		const results: string[] = [];
		r.client.subscribe("c/led", 1, undefined, (code) => results.push(`c/led ${code}`));
		r.client.subscribe("c/secret", 2, undefined, (code) => results.push(`c/secret ${code}`));
		// Offline: it goes at the next CONNACK, though nothing here knows the filter.
		r.client.unsubscribe("old/from/an/earlier/boot", () => results.push("unsubscribed old"));
		connected(r);
		r.host.virtual.advance(0);
		assert.deepEqual(results, ["c/led 1", "c/secret 128", "unsubscribed old"]);
		const unsubscribes = r.host.broker.current!.received.filter((p) => p.type === PacketType.Unsubscribe);
		assert.equal(unsubscribes.length, 1);
		r.client.unsubscribe("never/subscribed", () => results.push("unsubscribed never"));
		r.host.virtual.advance(0);
		assert.equal(results.at(-1), "unsubscribed never");
		// A new session subscribes again, without reporting again.
		r.host.broker.current!.drop();
		r.host.virtual.advance(3000);
		assert.equal(results.length, 4);
		assert.equal(sentTypes(r).filter((t) => t === PacketType.Subscribe).length, 1);
	},

	"end(timeout) lets the messages in flight complete before DISCONNECT, and gives up on them at the timeout"() {
		for (const acknowledged of [true, false]) {
			const r = rig({ will: { topic: "s/status", payload: "offline", qos: 1, retain: true } });
			connected(r);
			r.host.broker.behaviour.withholdAcks = !acknowledged;
			for (let i = 0; i < 3; i++) r.client.publish("s/t", `last ${i}`, { qos: 1 });
			r.client.end(2000);
			assert.equal(r.client.state, "connected", "still connected while they complete");
			const connection = r.host.broker.current!;
			r.host.virtual.advance(acknowledged ? 10 : 1999);
			const types = connection.received.map((p) => p.type);
			if (acknowledged) {
				assert.equal(r.client.state, "stopped");
				assert.equal(r.client.inflight, 0);
				assert.equal(types.at(-1), PacketType.Disconnect);
				assert.ok(types.lastIndexOf(PacketType.Publish) < types.indexOf(PacketType.Disconnect));
			} else {
				assert.equal(r.client.state, "connected");
				assert.ok(!types.includes(PacketType.Disconnect), "waiting for PUBACKs that never come");
				r.host.virtual.advance(1);
				assert.equal(r.client.state, "stopped");
				assert.equal(connection.received.at(-1)!.type, PacketType.Disconnect);
				assert.equal(r.client.inflight, 3, "abandoned at the timeout");
			}
			assert.deepEqual(r.host.broker.publishedTo("s/t"), ["last 0", "last 1", "last 2"]);
			assert.equal(r.host.broker.wills.length, 0, "an orderly end: no will");
			r.host.virtual.advance(120_000);
			assert.equal(r.host.broker.connections.length, 1, "no reconnect after end");
		}
	},

	"tells each publish its outcome, once: written, acknowledged, dropped, superseded, abandoned"() {
		const r = rig({ outbox: { maxMessages: 2, maxBytes: 100000, policy: "drop-oldest" } });
		const outcomes: string[] = [];
		const track = (name: string) => ({ onOutcome: (outcome: string) => outcomes.push(`${name} ${outcome}`) });
		// Offline: the outbox holds two; the oldest is dropped, a state superseded.
		r.client.publish("s/t", "a", { qos: 1, ...track("a") });
		r.client.publish("s/state", "on", { qos: 1, supersede: true, ...track("on") });
		r.client.publish("s/state", "off", { qos: 1, supersede: true, ...track("off") });
		r.client.publish("s/t", "b", { qos: 0, ...track("b") });
		r.client.publish("s/t", "c", { qos: 0, ...track("c") });
		assert.deepEqual(outcomes, ["on superseded", "a dropped", "off dropped"]);
		connected(r);
		r.host.virtual.advance(0);
		assert.deepEqual(outcomes.slice(3), ["b written", "c written"]);
		r.client.publish("s/t", "d", { qos: 0, ...track("d") });
		r.client.publish("s/t", "e", { qos: 2, ...track("e") });
		r.client.publish("s/t", "f", { qos: 1, ...track("f") });
		assert.equal(outcomes.at(-1), "d written", "written at once");
		r.host.virtual.advance(0);
		r.host.virtual.advance(0);
		assert.deepEqual(outcomes.slice(6), ["f acknowledged", "e acknowledged"]);
		// Still in flight at stop: abandoned; and nothing is told twice.
		r.host.broker.behaviour.withholdAcks = true;
		r.client.publish("s/t", "g", { qos: 1, ...track("g") });
		r.host.virtual.advance(0);
		r.client.stop();
		r.host.virtual.advance(10);
		assert.deepEqual(outcomes.slice(8), ["g abandoned"]);
		assert.equal(outcomes.length, 9);
	},

	"without automatic reconnection: one connection, and after a failure the application decides"() {
		const r = rig({ reconnect: false });
		connected(r);
		r.host.broker.current!.drop("connection reset");
		r.host.virtual.advance(120_000);
		assert.equal(r.client.state, "idle");
		assert.equal(r.host.broker.connections.length, 1, "no attempt of its own");
		assert.ok(r.errors.some((e) => e.includes("connection reset")), r.errors.join());
		r.client.start();
		r.host.virtual.advance(1);
		assert.equal(r.client.state, "connected");
		assert.equal(r.host.broker.connections.length, 2);
	},

	"refuses an empty client id with a persistent session, before anything goes on the wire"() {
		assert.throws(() => rig({ clientId: "", cleanSession: false }), /empty client id needs a clean session/);
		const r = rig({ clientId: "", cleanSession: true });
		connected(r);
	},

	"last value wins: a state publish replaces the same topic's earlier one still waiting, and never evicts other messages"() {
		const r = rig({ outbox: { maxMessages: 5, maxBytes: 100000, policy: "drop-oldest" } });
		for (let i = 0; i < 1000; i++) {
			if (i % 250 === 0) r.client.publish("s/t", `reading ${i / 250}`, { qos: 1 });
			assert.equal(r.client.publish("s/state", i % 2 ? "on" : "off", { qos: 1, retain: true, supersede: true }), true);
		}
		assert.equal(r.client.stats.dropped, 0);
		assert.equal(r.client.queued, 5);
		connected(r);
		r.host.virtual.advance(10);
		assert.deepEqual(r.host.broker.publishedTo("s/t"), ["reading 0", "reading 1", "reading 2", "reading 3"]);
		assert.deepEqual(r.host.broker.publishedTo("s/state"), ["on"], "only the latest state");
		// Once written, a state keeps its QoS flow: the next one does not replace it.
		r.host.broker.behaviour.withholdAcks = true;
		r.client.publish("s/state", "off", { qos: 1, retain: true, supersede: true });
		r.host.virtual.advance(0);
		r.client.publish("s/state", "on", { qos: 1, retain: true, supersede: true });
		r.host.virtual.advance(0);
		assert.deepEqual(r.host.broker.publishedTo("s/state"), ["on", "off", "on"]);
		assert.equal(r.client.inflight, 2);
	},

	"a handler's state publishes while connected: the last one of a command goes out, after the command's PUBACK, in order with the rest"() {
		const r = rig();
		const outcomes: string[] = [];
		const state = (value: string) => r.client.publish("s/state", value, { qos: 1, retain: true, supersede: true, onOutcome: (outcome) => outcomes.push(`${value} ${outcome}`) });
		r.client.subscribe("c/led", 1, () => {
			state("on");
			r.client.publish("s/t", "reading", { qos: 1 });
			state("off");
			state("on again");
		});
		connected(r);
		const connection = r.host.broker.current!;
		const before = connection.received.length;
		r.host.broker.deliver("c/led", "toggle", 1);
		r.host.virtual.advance(10);
		const sent = connection.received.slice(before).map((packet) => packet.type === PacketType.Publish ? `${packet.topic} ${text(packet.payload)}` : `${packet.type}`);
		// The state's first value was replaced where it waited, ahead of the reading: its place, the last value.
		assert.deepEqual(sent, [`${PacketType.Puback}`, "s/state on again", "s/t reading"]);
		assert.deepEqual(outcomes, ["on superseded", "off superseded", "on again acknowledged"]);
		assert.equal(r.client.inflight, 0);
	},

	"acknowledges inbound QoS 1 and passes retain and topic-filter dispatch"() {
		const r = rig();
		const led: string[] = [];
		const any: string[] = [];
		r.client.subscribe("control/+/led", 1, (m) => led.push(m.topic));
		r.client.subscribe("control/#", 0, (m) => any.push(m.topic));
		connected(r);
		r.host.broker.deliver("control/room1/led", "on", 1, true);
		r.host.broker.deliver("control/room1/fan", "on", 0);
		r.host.broker.deliver("control", "x", 0);
		assert.deepEqual(led, ["control/room1/led"]);
		assert.deepEqual(any, ["control/room1/led", "control/room1/fan", "control"]);
		assert.equal(r.messages[0]!.retain, true);
		assert.equal(r.messages[1]!.retain, false);
		assert.ok(r.host.broker.current!.received.some((p) => p.type === PacketType.Puback));
	},

	"queues publishes while offline and sends them in order after connecting"() {
		const r = rig();
		for (let i = 0; i < 5; i++) r.client.publish("s/t", `offline ${i}`, { qos: i % 2 as 0 | 1 });
		assert.equal(r.client.queued, 5);
		connected(r);
		assert.deepEqual(r.host.broker.publishedTo("s/t"), ["offline 0", "offline 1", "offline 2", "offline 3", "offline 4"]);
		assert.equal(r.client.queued, 0);
	},

	"bounds the outbox in messages, dropping the oldest and counting them"() {
		const r = rig({ outbox: { maxMessages: 3, maxBytes: 100000, policy: "drop-oldest" } });
		for (let i = 0; i < 5; i++) assert.equal(r.client.publish("s/t", `m${i}`, { qos: 1 }), true);
		assert.equal(r.client.stats.dropped, 2);
		connected(r);
		assert.deepEqual(r.host.broker.publishedTo("s/t"), ["m2", "m3", "m4"]);
	},

	"bounds the outbox in bytes, rejecting the newest under reject-new"() {
		const r = rig({ outbox: { maxMessages: 100, maxBytes: 60, policy: "reject-new" } });
		const results: boolean[] = [];
		for (let i = 0; i < 5; i++) results.push(r.client.publish("s/t", `message ${i}`, { qos: 1 }));
		// Each is 2 + 1 + 2 + 3 + 2 + 9 = 19 bytes: three fit in 60.
		assert.deepEqual(results, [true, true, true, false, false]);
		assert.equal(r.client.queued, 3);
		assert.equal(r.client.stats.dropped, 2);
		assert.ok(r.errors.some((e) => /limit: outbox full/.test(e)));
		connected(r);
		assert.deepEqual(r.host.broker.publishedTo("s/t"), ["message 0", "message 1", "message 2"]);
	},

	"keeps at most maxInflight QoS 1 messages unacknowledged"() {
		const r = rig({ maxInflight: 2 });
		connected(r);
		r.host.broker.behaviour.withholdAcks = true;
		for (let i = 0; i < 5; i++) r.client.publish("s/t", `q${i}`, { qos: 1 });
		assert.equal(r.host.broker.published.length, 2);
		assert.equal(r.client.inflight, 2);
		assert.equal(r.client.queued, 3);
		const connection = r.host.broker.current!;
		connection.sendPacket({ type: PacketType.Puback, packetId: r.host.broker.published[0]!.packetId! });
		assert.equal(r.host.broker.published.length, 3);
	},

	"closes cleanly on a malformed packet, reports the rule, and reconnects"() {
		const r = rig();
		connected(r);
		r.host.broker.current!.sendBytes(Uint8Array.of(0x60, 0x02, 0x00, 0x01)); // PUBREL with flags 0, not 2
		assert.equal(r.client.state, "waiting");
		assert.ok(r.errors.some((e) => /protocol: protocol error: PUBREL fixed header flags must be 2, got 0/.test(e)), r.errors.join());
		assert.equal(r.client.stats.protocolErrors, 1);
		r.host.virtual.advance(2000);
		assert.equal(r.client.state, "connected");
	},

	"ignores the rest of a chunk once a protocol error has closed the connection"() {
		const r = rig();
		r.client.subscribe("c/led", 0);
		connected(r);
		const unknownSuback = Uint8Array.of(0x90, 0x03, 0x00, 0x4d, 0x00);
		const publish = Uint8Array.of(0x30, 0x08, 0x00, 0x05, 0x63, 0x2f, 0x6c, 0x65, 0x64, 0x31);
		const chunk = new Uint8Array(unknownSuback.length + publish.length);
		chunk.set(unknownSuback);
		chunk.set(publish, unknownSuback.length);
		r.host.broker.current!.sendBytes(chunk);
		assert.equal(r.client.state, "waiting");
		assert.deepEqual(r.messages, []);
		assert.equal(r.client.stats.protocolErrors, 1);
		assert.ok(r.errors.some((e) => /SUBACK for unknown packet id 77/.test(e)), r.errors.join());
	},

	"reports a message handler's exception and goes on delivering and acknowledging"() {
		const r = rig();
		const seen: string[] = [];
		r.client.subscribe("c/led", 1, (m) => {
			seen.push(text(m.payload));
			if (seen.length === 1) throw new Error("boom");
		});
		connected(r);
		r.host.broker.deliver("c/led", "first", 1);
		r.host.broker.deliver("c/led", "second", 1);
		assert.deepEqual(seen, ["first", "second"]);
		assert.equal(r.client.state, "connected");
		assert.deepEqual(r.errors, ["handler: message handler for c/led threw: boom"]);
		assert.equal(r.host.broker.current!.received.filter((p) => p.type === PacketType.Puback).length, 2);
	},

	"skips an oversized inbound packet without allocating it, and stays connected"() {
		const r = rig({ maxPacketSize: 64, oversize: "skip" });
		r.client.subscribe("c/#", 0);
		connected(r);
		r.host.broker.deliver("c/big", new Uint8Array(1000));
		r.host.broker.deliver("c/small", "ok");
		assert.equal(r.client.state, "connected");
		assert.deepEqual(r.messages.map((m) => m.topic), ["c/small"]);
		assert.ok(r.errors.some((e) => /oversize: PUBLISH of 1010 bytes exceeds the maximum packet size of 64/.test(e)), r.errors.join());
	},

	"acknowledges a skipped QoS 1 or 2 message, so the broker's in-flight slot is freed"() {
		const r = rig({ maxPacketSize: 64, oversize: "skip" });
		r.client.subscribe("c/#", 2);
		connected(r);
		r.host.broker.deliver("c/big", new Uint8Array(1000), 1);
		r.host.broker.deliver("c/big", new Uint8Array(1000), 2);
		r.host.broker.deliver("c/small", "ok", 1);
		const received = r.host.broker.current!.received;
		assert.deepEqual(received.filter((p) => p.type === PacketType.Puback).length, 2, "both QoS 1 messages acknowledged");
		assert.deepEqual(received.filter((p) => p.type === PacketType.Pubrec).length, 1);
		assert.deepEqual(received.filter((p) => p.type === PacketType.Pubcomp).length, 0, "PUBCOMP is the broker's");
		assert.deepEqual(r.messages.map((m) => m.topic), ["c/small"]);
		assert.equal(r.client.stats.skipped, 2);
		assert.equal(r.client.state, "connected");
	},

	"reports, acknowledges and does not deliver a message whose topic is over the limit"() {
		const r = rig({ maxTopicBytes: 16 });
		r.client.subscribe("c/#", 1);
		connected(r);
		r.host.broker.deliver("c/" + "y".repeat(30), "on", 1);
		r.host.broker.deliver("c/led", "on", 1);
		assert.deepEqual(r.messages.map((m) => m.topic), ["c/led"]);
		assert.deepEqual(r.errors, ["limit: PUBLISH topic of 32 bytes exceeds the limit of 16"]);
		assert.equal(r.host.broker.current!.received.filter((p) => p.type === PacketType.Puback).length, 2);
		assert.equal(r.client.state, "connected");
	},

	"closes on an oversized inbound packet when configured to"() {
		const r = rig({ maxPacketSize: 64, oversize: "close" });
		r.client.subscribe("c/#", 0);
		connected(r);
		r.host.broker.deliver("c/big", new Uint8Array(1000));
		assert.equal(r.client.state, "waiting");
	},

	"rejects bad application arguments at once, with a specific error"() {
		const r = rig();
		assert.throws(() => r.client.publish("a/+/b", "x"), /must not contain wildcards/);
		assert.throws(() => r.client.publish("", "x"), /must not be empty/);
		assert.throws(() => r.client.publish("a", "x", { qos: 3 as 0 }), /QoS must be 0, 1 or 2/);
		assert.throws(() => r.client.publish("a", 42 as unknown as string), /payload must be a Uint8Array or a string/);
		assert.throws(() => r.client.subscribe("a/#/b", 0), /# must be the last character/);
		assert.throws(() => rig({ port: 70000 }), /port must be 1-65535/);
	},

	"tells the application of the session's effects once its call has returned; only a handler runs inside it"() {
		// Every call into the session counts how deep the session is: an application callback made
		// from inside an effect would see a depth above 0.
		const prototype = Session.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
		const names = ["connect", "abort", "disconnect", "transportOpened", "transportClosed", "transmit", "receive", "wake", "timeout", "publish", "publishWith", "subscribe", "unsubscribe"];
		const originals = names.map((name) => prototype[name]!);
		let depth = 0;
		names.forEach((name, index) => {
			const original = originals[index]!;
			prototype[name] = function (this: unknown, ...args: unknown[]): unknown {
				depth++;
				try {
					return original.apply(this, args);
				} finally {
					depth--;
				}
			};
		});
		try {
			const seen: string[] = [];
			const r = rig({
				onStateChange: (state) => void seen.push(`state ${state} at depth ${depth}`),
				onConnect: () => {
					seen.push(`connect at depth ${depth}`);
					r.client.publish("s/hello", "1", { qos: 1 });
				},
				onError: (kind) => void seen.push(`error ${kind} at depth ${depth}`),
			});
			r.client.subscribe("c/led", 1, (message) => {
				seen.push(`handler at depth ${depth}`);
				r.client.publish("s/led", message.payload, { qos: 1 });
				throw new Error("handler failed");
			});
			connected(r);
			const connection = r.host.broker.current!;
			assert.deepEqual(connection.received.map((packet) => packet.type), [PacketType.Connect, PacketType.Subscribe, PacketType.Publish], "what onConnect published goes after what the CONNACK queued");
			connection.sendPacket({ type: PacketType.Publish, topic: "c/led", payload: encodeUtf8("ON"), qos: 1, retain: false, dup: false, packetId: 9 });
			r.host.virtual.advance(1);
			assert.deepEqual(seen, ["state connecting at depth 0", "state connected at depth 0", "connect at depth 0", "handler at depth 1", "error handler at depth 0"]);
			assert.deepEqual(r.host.broker.publishedTo("s/led"), ["ON"], "the handler's publish went out after its input");
		} finally {
			names.forEach((name, index) => {
				prototype[name] = originals[index]!;
			});
		}
	},

	"stops in order: DISCONNECT, no reconnect, no will"() {
		const r = rig({ will: { topic: "s/status", payload: "offline", qos: 1, retain: true } });
		connected(r);
		r.client.stop();
		assert.equal(r.client.state, "stopped");
		const connection = r.host.broker.connections[0]!;
		assert.equal(connection.received[connection.received.length - 1]!.type, PacketType.Disconnect);
		assert.equal(r.host.broker.wills.length, 0);
		r.host.virtual.advance(120000);
		assert.equal(r.host.broker.connections.length, 1);
		assert.equal(r.host.virtual.pending, 0, "no timer left behind");
	},

	"holds one timer at most, whatever it is waiting for"() {
		const r = rig();
		r.client.subscribe("c/#", 1);
		connected(r);
		for (let i = 0; i < 50; i++) {
			r.client.publish("s/t", "x", { qos: 1 });
			r.host.virtual.advance(700);
			assert.ok(r.host.virtual.pending <= 1, `${r.host.virtual.pending} timers`);
		}
	},

	"keeps waking when the host's timer fires before its clock says it is due"() {
		// A spent timer that woke the session too early must be armed again, or the session never wakes again.
		const r = rig({ backoff: { minimum: 1000, maximum: 8000, factor: 2 } });
		r.host.virtual.early = 3;
		r.host.broker.up = false;
		r.client.start();
		r.host.virtual.advance(60_000);
		assert.ok(r.host.broker.connections.length >= 8, `${r.host.broker.connections.length} attempts in 60 s`);
		r.host.broker.up = true;
		r.host.virtual.advance(9_000);
		assert.equal(r.client.state, "connected");
		r.host.virtual.advance(95_000);
		const pings = sentTypes(r).filter((type) => type === PacketType.Pingreq).length;
		assert.ok(pings >= 3, `${pings} pings in 95 s idle, keepalive 30 s`);
		assert.equal(r.host.virtual.pending, 1);
	},

	"takes the direct lane for a whole QoS 0 or 1 PUBLISH on an exact topic, with the same message and acknowledgement"() {
		const r = laneRig();
		const seen: string[] = [];
		let direct = 0;
		r.client.subscribe("control/room1/led", 1, (m) => {
			if (viaDirectLane(m)) direct++;
			seen.push(`${m.topic} ${text(m.payload)} ${m.qos} ${m.retain} ${m.dup}`);
		});
		connected(r);
		r.host.broker.deliver("control/room1/led", "on");
		r.host.broker.deliver("control/room1/led", "off");
		assert.deepEqual(seen, ["control/room1/led on 0 false false", "control/room1/led off 0 false false"]);
		assert.equal(direct, 2);
		assert.equal(r.client.stats.received, 2);
		// A retained message is not the lane's: the layered path delivers it, with the same handler.
		r.host.broker.deliver("control/room1/led", "toggle", 0, true);
		assert.deepEqual(seen.slice(2), ["control/room1/led toggle 0 true false"]);
		assert.equal(direct, 2);
		// A QoS 1 message is: delivered at QoS 1, then acknowledged with its own packet id.
		const connection = r.host.broker.connections[0]!;
		const before = connection.received.length;
		connection.sendBytes(publishBytes("control/room1/led", "on", 1));
		assert.deepEqual(seen.slice(3), ["control/room1/led on 1 false false"]);
		assert.equal(direct, 3);
		assert.equal(r.client.stats.received, 4);
		assert.deepEqual(connection.received.slice(before), [{ type: PacketType.Puback, packetId: 7 }]);
	},

	"keeps the layered path where a topic has more than one recipient, or no native decoder"() {
		const calls: string[] = [];
		const exactAndWildcard = laneRig();
		exactAndWildcard.client.subscribe("w/a", 0, (m) => calls.push(`exact ${viaDirectLane(m)}`));
		exactAndWildcard.client.subscribe("w/+", 0, (m) => calls.push(`wildcard ${viaDirectLane(m)}`));
		connected(exactAndWildcard);
		exactAndWildcard.host.broker.deliver("w/a", "1");
		assert.deepEqual(calls, ["exact false", "wildcard false"]);

		const withHook = rig();
		withHook.client.subscribe("c/led", 0, (m) => calls.push(`hooked ${viaDirectLane(m)}`));
		connected(withHook);
		withHook.host.broker.deliver("c/led", "1");
		assert.deepEqual(calls.slice(2), ["hooked false"]);
		assert.equal(withHook.messages.length, 1);

		const host = new FakeHost();
		host.utf8 = undefined;
		const noDecoder = laneRig({ host });
		noDecoder.client.subscribe("c/led", 0, (m) => calls.push(`plain ${viaDirectLane(m)} ${m.topic}`));
		connected(noDecoder);
		noDecoder.host.broker.deliver("c/led", "1");
		assert.deepEqual(calls.slice(3), ["plain false c/led"]);
	},

	"encodes a string payload with the host's native encoder, and keeps MQTT's string rules for topics"() {
		const native = new FakeHost();
		const encoded: string[] = [];
		const encoder = native.utf8Encoder!;
		native.utf8Encoder = { encode: (text) => (encoded.push(text), encoder.encode(text)) };
		const r = rig({ host: native });
		connected(r);
		r.client.publish("s/t", '{"t":"21.5 °C"}', { qos: 1 });
		assert.deepEqual(encoded, ['{"t":"21.5 °C"}']);
		assert.equal(hex(r.host.broker.published[0]!.payload), hex(encodeUtf8('{"t":"21.5 °C"}')));
		// Topics still go through the codec's checked encoder, which refuses what MQTT calls malformed.
		assert.throws(() => r.client.publish("s/\ud800", "x"), /lone surrogate/);
		assert.throws(() => r.client.publish("s/\u0000", "x"), /U\+0000/);
		assert.equal(r.host.broker.published.length, 1);

		// Without a native encoder the JS one serves, with the same bytes, and refuses a lone surrogate.
		const plain = new FakeHost();
		plain.utf8Encoder = undefined;
		const fallback = rig({ host: plain });
		connected(fallback);
		fallback.client.publish("s/t", '{"t":"21.5 °C"}', { qos: 1 });
		assert.equal(hex(fallback.host.broker.published[0]!.payload), hex(encodeUtf8('{"t":"21.5 °C"}')));
		assert.throws(() => fallback.client.publish("s/t", "a\ud800"), /lone surrogate/);
	},

	"never reads the rest of a split packet as a packet of its own"() {
		// The second chunk is, byte for byte, a whole QoS 0 PUBLISH on a direct topic; it is the payload of the first.
		const r = laneRig();
		const led: string[] = [];
		const carrier: string[] = [];
		r.client.subscribe("control/room1/led", 0, (m) => led.push(text(m.payload)));
		r.client.subscribe("c/carrier", 0, (m) => carrier.push(hex(m.payload)));
		connected(r);
		const inner = publishBytes("control/room1/led", "on");
		const outer = publishBytes("c/carrier", inner);
		const split = outer.length - inner.length;
		r.host.broker.current!.sendBytes(outer.subarray(0, split));
		r.host.broker.current!.sendBytes(outer.subarray(split));
		assert.deepEqual(carrier, [hex(inner)]);
		assert.deepEqual(led, []);
		// And the next whole packet takes the lane again.
		r.host.broker.current!.sendBytes(inner);
		assert.deepEqual(led, ["on"]);
	},

	"on the direct lane, reports a handler's exception and keeps the message record intact"() {
		const r = laneRig();
		const seen: string[] = [];
		r.client.subscribe("c/led", 0, (m) => {
			seen.push(`${m.topic} ${m.qos} ${text(m.payload)}`);
			if (seen.length === 1) throw new Error("boom");
			if (seen.length === 2) (m as { qos: number }).qos = 2;
		});
		connected(r);
		r.host.broker.deliver("c/led", "first");
		r.host.broker.deliver("c/led", "second");
		r.host.broker.deliver("c/led", "third");
		assert.deepEqual(seen, ["c/led 0 first", "c/led 0 second", "c/led 0 third"]);
		assert.equal(r.errors.length, 2, r.errors.join());
		assert.equal(r.errors[0], "handler: message handler for c/led threw: boom");
		assert.ok(/^handler: message handler for c\/led threw: .*qos/i.test(r.errors[1]!), r.errors[1]);
		assert.equal(r.client.state, "connected");
		assert.equal(r.client.stats.received, 3);
	},

	"the direct lane and the layered path agree on 400 random streams, malformed packets included"() {
		const random = seededRandom(2026);
		let direct = 0;
		for (let run = 0; run < 400; run++) {
			const packets: Uint8Array[] = [];
			const count = 1 + Math.floor(random() * 6);
			for (let i = 0; i < count; i++) packets.push(lanePacket(random));
			// Mostly one packet a chunk, as a device reads them; some coalesced, some split.
			const stream: Uint8Array[] = [];
			for (let i = 0; i < packets.length; i++) {
				const roll = random();
				if (roll < 0.15 && i + 1 < packets.length) {
					stream.push(concat([packets[i]!, packets[++i]!]));
				} else if (roll < 0.3 && packets[i]!.length > 1) {
					const at = 1 + Math.floor(random() * (packets[i]!.length - 1));
					stream.push(packets[i]!.subarray(0, at), packets[i]!.subarray(at));
				} else {
					stream.push(packets[i]!);
				}
			}
			const lane = laneOutcome(stream, false);
			const layered = laneOutcome(stream, true);
			assert.equal(layered.direct, 0, "byte by byte, nothing can take the lane");
			assert.deepEqual(lane.record, layered.record, `stream ${run}: ${stream.map(hex).join(" ")}`);
			direct += lane.direct;
		}
		assert.ok(direct >= 150, `only ${direct} deliveries took the direct lane`);
	},

	"completes a QoS 1 message on its PUBACK, in order or not, whole or split, and refuses one for QoS 2"() {
		const r = rig();
		connected(r);
		r.host.broker.behaviour.withholdAcks = true;
		const outcomes: string[] = [];
		for (const name of ["a", "b", "c"]) r.client.publish("s/t", name, { qos: 1, onOutcome: (outcome) => outcomes.push(`${name} ${outcome}`) });
		r.client.publish("s/two", "d", { qos: 2 });
		r.host.virtual.advance(1);
		const ids = r.host.broker.published.map((packet) => packet.packetId!);
		assert.equal(ids.length, 4);
		assert.equal(r.client.inflight, 4);
		const connection = r.host.broker.current!;
		const puback = (id: number) => Uint8Array.of(0x40, 2, id >> 8, id & 0xff);
		// The second before the first: not the oldest, so not the lane's; completed all the same.
		connection.sendBytes(puback(ids[1]!));
		assert.deepEqual(outcomes, ["b acknowledged"]);
		connection.sendBytes(puback(ids[0]!));
		assert.deepEqual(outcomes, ["b acknowledged", "a acknowledged"]);
		// One for an id not in flight is harmless; a split one is gathered by the parser.
		connection.sendBytes(puback(ids[2]! + 100));
		const last = puback(ids[2]!);
		connection.sendBytes(last.subarray(0, 1));
		connection.sendBytes(last.subarray(1));
		assert.deepEqual(outcomes, ["b acknowledged", "a acknowledged", "c acknowledged"]);
		assert.equal(r.client.inflight, 1);
		assert.equal(r.client.state, "connected");
		// The oldest left is QoS 2: a PUBACK for it breaks the protocol, on the lane as off it.
		connection.sendBytes(puback(ids[3]!));
		assert.equal(r.client.stats.protocolErrors, 1);
		assert.ok(r.errors.some((error) => /PUBACK for QoS 2 message/.test(error)), r.errors.join());
	},

	"never reuses a packet id still in flight, across the wrap at 65535"() {
		const r = rig({ maxInflight: 10, outbox: { maxMessages: 100, maxBytes: 65536 } });
		connected(r);
		r.host.broker.behaviour.withholdAcks = true;
		r.client.publish("s/stuck", "x", { qos: 1 });
		r.host.virtual.advance(1);
		r.host.broker.behaviour.withholdAcks = false;
		const stuck = r.host.broker.published[0]!.packetId!;
		let reused = 0;
		let wrapped = false;
		let previous = stuck;
		for (let i = 0; i < 66000; i++) {
			r.client.publish("s/t", "y", { qos: 1 });
			if (i % 9 === 8) r.host.virtual.advance(1);
		}
		r.host.virtual.advance(1);
		for (const packet of r.host.broker.published.slice(1)) {
			if (packet.packetId === stuck) reused++;
			if (packet.packetId! < previous) wrapped = true;
			previous = packet.packetId!;
		}
		assert.ok(wrapped, "ids wrapped past 65535");
		assert.equal(reused, 0, `id ${stuck} reused while in flight`);
		assert.equal(r.client.inflight, 1);
		assert.equal(r.client.stats.dropped, 0);
	},
});

