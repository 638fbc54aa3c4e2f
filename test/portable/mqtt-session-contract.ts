/*
 * The session state machine on its own: no client, no socket, no timer.
 * Each case builds a `Session`, feeds it bytes and times, and checks what it
 * hands out (the packets `transmit` returns, decoded by the broker's codec,
 * `timeout`, and its effects). This is the contract a driver relies on;
 * test/portable/mqtt-client.ts drives the same session through the client.
 * The rig is shared with test/mqtt-session-publish-bytes.test.ts.
 */
import { defineSuite } from "test/lib/suite";
import * as assert from "test/lib/assert";
import { hex } from "test/lib/fake-host";
import { decode, encode } from "test/lib/broker-codec";
import { Session, type InboundMessage, type SessionOptions } from "mqtt/session";
import { PacketType, type Packet, type PublishPacket, type QoS } from "mqtt/packets";
import { encodeUtf8 } from "utf8";
import type { PublishOutcome } from "mqtt/outbox";
import { InflightWindow } from "mqtt/inflight";
import { PublishBuffers } from "mqtt/publish-buffers";
import type { Utf8Decoder } from "platform";

const nativeDecoder = new (globalThis as unknown as { TextDecoder: new (label: string, options: { ignoreBOM: boolean }) => Utf8Decoder }).TextDecoder("utf-8", { ignoreBOM: true });

export interface Rig {
	session: Session;
	/** Every effect, in order, as text. */
	effects: string[];
}

export function rig(options: Partial<SessionOptions> = {}, withDeliver = false): Rig {
	const effects: string[] = [];
	const session = new Session({
		clientId: "dev", cleanSession: false, keepalive: 30, connackTimeout: 10000, pingTimeout: 5000,
		outbox: { maxMessages: 10, maxBytes: 4096, policy: "drop-oldest" }, maxInflight: 4, maxInboundPending: 4,
		maxPacketSize: 4096, oversize: "skip", ...options,
	}, {
		closeTransport: (reason) => void effects.push(`close: ${reason}`),
		failed: (kind, reason, atMaximum) => void effects.push(`failed ${kind}${atMaximum ? " (at maximum)" : ""}: ${reason}`),
		stateChanged: (state) => void effects.push(`state ${state}`),
		connected: (sessionPresent) => void effects.push(`connected${sessionPresent ? ", session present" : ""}`),
		error: (kind, message) => void effects.push(`error ${kind}: ${message}`),
		...(withDeliver ? { deliver: (message: InboundMessage) => void effects.push(`deliver ${message.topic}`) } : {}),
	});
	return { session, effects };
}

/** Everything the session has to send now, each packet copied (its buffers are reused) and decoded. */
export function drain(r: Rig, now: number): Packet[] {
	const packets: Packet[] = [];
	for (let bytes = r.session.transmit(now); bytes !== undefined; bytes = r.session.transmit(now)) {
		const packet = decode(bytes.slice());
		if (typeof packet === "string") assert.fail(`the session sent a malformed packet (${packet}): ${hex(bytes)}`);
		packets.push(packet);
	}
	return packets;
}

function types(packets: Packet[]): PacketType[] {
	return packets.map((packet) => packet.type);
}

/** Runs the whole handshake at `now`; returns what went out after CONNECT. */
export function open(r: Rig, now: number, sessionPresent = false): Packet[] {
	r.session.connect(now);
	r.session.transportOpened(now);
	assert.deepEqual(types(drain(r, now)), [PacketType.Connect]);
	r.session.receive(now, encode({ type: PacketType.Connack, sessionPresent, returnCode: 0 }));
	assert.equal(r.session.state, "connected");
	return drain(r, now);
}

function inbound(topic: string, payload: string, qos: QoS, packetId?: number, dup = false): Uint8Array {
	return encode({ type: PacketType.Publish, topic, payload: encodeUtf8(payload), qos, retain: false, dup, ...(qos > 0 ? { packetId: packetId! } : {}) });
}

function ack(type: PacketType.Puback | PacketType.Pubrec | PacketType.Pubrel | PacketType.Pubcomp | PacketType.Unsuback, packetId: number): Uint8Array {
	return encode({ type, packetId });
}

function asPublish(packet: Packet | undefined): PublishPacket {
	assert.ok(packet !== undefined && packet.type === PacketType.Publish, `expected a PUBLISH, got ${packet === undefined ? "nothing" : `type ${packet.type}`}`);
	return packet as PublishPacket;
}

export const suite = defineSuite("MQTT session alone: bytes and time in, packets and effects out", {
	"CONNECT goes first once the transport opens, and a CONNACK split in two connects"() {
		const r = rig();
		r.session.connect(0);
		assert.equal(r.session.timeout(), 10000, "the CONNACK deadline runs from connect");
		assert.equal(r.session.transmit(0), undefined, "nothing before the transport opens");
		r.session.transportOpened(5);
		const [connect, ...rest] = drain(r, 5);
		assert.deepEqual(rest, []);
		assert.ok(connect !== undefined && connect.type === PacketType.Connect);
		assert.deepEqual([connect.clientId, connect.keepalive, connect.cleanSession], ["dev", 30, false]);
		const connack = encode({ type: PacketType.Connack, sessionPresent: false, returnCode: 0 });
		r.session.receive(7, connack.subarray(0, 3));
		assert.equal(r.session.state, "connecting");
		r.session.receive(8, connack.subarray(3));
		assert.equal(r.session.state, "connected");
		assert.deepEqual(drain(r, 8), []);
		assert.equal(r.session.status.quiet, true, "nothing waits: a new message may go straight out");
		assert.equal(r.session.timeout(), 8 + 30000, "keepalive runs from the CONNACK");
		assert.deepEqual(r.effects, ["state connecting", "state connected", "connected"]);
		assert.equal(r.session.stats.connects, 1);
	},

	"no CONNACK within connackTimeout fails the attempt, closes the transport and counts it"() {
		const r = rig();
		r.session.connect(0);
		r.session.transportOpened(1);
		drain(r, 1);
		r.session.wake(9999);
		assert.equal(r.session.state, "connecting", "a timer that fires early finds nothing due");
		r.session.wake(10000);
		assert.equal(r.session.state, "idle");
		assert.deepEqual(r.effects.slice(1), ["close: no CONNACK within 10000 ms", "state idle", "failed timeout: no CONNACK within 10000 ms"]);
		assert.equal(r.session.stats.failedAttempts, 1);
		assert.equal(r.session.timeout(), undefined, "no timer while idle");
		assert.equal(r.session.transmit(10000), undefined);
	},

	"a CONNACK refusing as not authorised fails at the maximum: retrying soon cannot help"() {
		const r = rig();
		r.session.connect(0);
		r.session.transportOpened(0);
		drain(r, 0);
		r.session.receive(3, encode({ type: PacketType.Connack, sessionPresent: false, returnCode: 5 }));
		assert.equal(r.effects.at(-1), "failed refused (at maximum): broker refused the connection: not authorized (5)");
		assert.equal(r.session.timeout(), undefined);
	},

	"keepalive: PINGREQ after the interval with nothing sent, though messages keep arriving; PINGRESP measured"() {
		const r = rig();
		r.session.subscribe(0, "in/t", 0, () => undefined);
		const afterConnack = open(r, 0);
		assert.deepEqual(types(afterConnack), [PacketType.Subscribe]);
		r.session.receive(1, encode({ type: PacketType.Suback, packetId: 1, returnCodes: [0] }));
		r.session.receive(10000, inbound("in/t", "a", 0));
		r.session.receive(20000, inbound("in/t", "b", 0));
		assert.equal(r.session.timeout(), 30000, "received traffic does not hold off the ping: nothing was sent since 0");
		r.session.wake(29990);
		assert.deepEqual(drain(r, 29990), []);
		r.session.wake(30000);
		assert.deepEqual(types(drain(r, 30000)), [PacketType.Pingreq]);
		assert.equal(r.session.timeout(), 35000, "the PINGRESP deadline");
		r.session.receive(30040, encode({ type: PacketType.Pingresp }));
		assert.equal(r.session.stats.lastRoundTrip, 40);
		assert.equal(r.session.timeout(), 60000, "the next ping: the interval from the last PINGREQ sent");
		assert.equal(r.session.state, "connected");
	},

	"keepalive: no PINGRESP within pingTimeout is a dead link"() {
		const r = rig({ keepalive: 10, pingTimeout: 2000 });
		open(r, 0);
		r.session.wake(10000);
		assert.deepEqual(types(drain(r, 10000)), [PacketType.Pingreq]);
		r.session.wake(11999);
		assert.equal(r.session.state, "connected");
		r.session.wake(12000);
		assert.equal(r.session.state, "idle");
		assert.equal(r.effects.at(-1), "failed timeout: no PINGRESP within 2000 ms: the link is dead");
		assert.equal(r.session.stats.failedAttempts, 0, "a connection that was up is not a failed attempt");
	},

	"timeout() after a wake answers as the deadlines do, and forgets the wake's answer once a deadline or the state changes"() {
		const r = rig();
		r.session.connect(0);
		r.session.transportOpened(0);
		drain(r, 0);
		r.session.wake(5000);
		assert.equal(r.session.timeout(), 10000, "still waiting for the CONNACK");
		r.session.receive(100, encode({ type: PacketType.Connack, sessionPresent: false, returnCode: 0 }));
		drain(r, 100);
		r.session.receive(10000, inbound("in/t", "a", 0));
		r.session.wake(29990);
		assert.equal(r.session.timeout(), 30100, "the interval from the CONNACK sent at 100, the earlier of sent and received");
		assert.equal(r.session.timeout(), 30100, "asked again, the deadlines answer the same");
		r.session.wake(30100);
		assert.deepEqual(types(drain(r, 30100)), [PacketType.Pingreq]);
		r.session.receive(30140, encode({ type: PacketType.Pingresp }));
		assert.equal(r.session.timeout(), 60100, "the PINGRESP came between the wake and timeout(): the next ping, not the PINGRESP deadline");
		r.session.wake(40000);
		r.session.disconnect(40000);
		assert.equal(r.session.state, "closing");
		assert.equal(r.session.timeout(), undefined, "closing: no deadline, whatever the wake found");
		const aborted = rig();
		open(aborted, 0);
		aborted.session.wake(100);
		aborted.session.abort(100, "link lost");
		assert.equal(aborted.session.timeout(), undefined, "idle: no timer");
	},

	"keepalive 0: no ping deadline at all"() {
		const r = rig({ keepalive: 0 });
		open(r, 0);
		assert.equal(r.session.timeout(), undefined);
		r.session.wake(10 * 60 * 1000);
		assert.deepEqual(drain(r, 10 * 60 * 1000), []);
	},

	"subscriptions asked for offline go at CONNACK, SUBSCRIBE before UNSUBSCRIBE, and SUBACK results are reported"() {
		const r = rig();
		const results: string[] = [];
		r.session.subscribe(0, "a/b", 1, () => undefined, (code) => void results.push(`a/b ${code}`));
		r.session.subscribe(0, "c/+", 0, undefined, (code) => void results.push(`c/+ ${code}`));
		r.session.unsubscribe(0, "old/x", () => void results.push("old/x done"));
		assert.equal(r.session.transmit(0), undefined);
		const [subscribe, unsubscribe, ...rest] = open(r, 0);
		assert.deepEqual(rest, []);
		assert.deepEqual(subscribe, { type: PacketType.Subscribe, packetId: 1, subscriptions: [{ filter: "a/b", qos: 1 }, { filter: "c/+", qos: 0 }] });
		assert.deepEqual(unsubscribe, { type: PacketType.Unsubscribe, packetId: 2, filters: ["old/x"] });
		r.session.receive(1, encode({ type: PacketType.Suback, packetId: 1, returnCodes: [1, 0x80] }));
		r.session.receive(1, ack(PacketType.Unsuback, 2));
		assert.deepEqual(results, ["a/b 1", "c/+ 128", "old/x done"]);
		assert.equal(r.effects.at(-1), "error subscription: broker refused the subscription to c/+");
		assert.deepEqual([...r.session.subscriptions].map(([filter, { granted }]) => `${filter} ${granted}`), ["a/b true", "c/+ false"]);
		// A resumed session holds what it granted: only the refused filter is asked for again.
		r.session.abort(2, "link lost");
		assert.deepEqual(open(r, 3, true), [{ type: PacketType.Subscribe, packetId: 3, subscriptions: [{ filter: "c/+", qos: 0 }] }]);
		// A new session holds nothing: every filter again.
		r.session.abort(4, "link lost");
		const again = open(r, 5, false);
		assert.deepEqual(again.map((packet) => packet.type === PacketType.Subscribe ? packet.subscriptions.map((s) => s.filter) : []), [["a/b", "c/+"]]);
		assert.deepEqual(results, ["a/b 1", "c/+ 128", "old/x done"], "a result is reported once, for the first SUBACK");
	},

	"a subscription made while connected goes at once; a SUBACK for no request of ours is a protocol error"() {
		const r = rig();
		open(r, 0);
		r.session.subscribe(1, "x/y", 2);
		assert.deepEqual(drain(r, 1), [{ type: PacketType.Subscribe, packetId: 1, subscriptions: [{ filter: "x/y", qos: 2 }] }]);
		assert.throws(() => r.session.subscribe(1, "bad/#/filter", 0), /#/);
		r.session.receive(2, encode({ type: PacketType.Suback, packetId: 77, returnCodes: [0] }));
		assert.equal(r.session.state, "idle");
		assert.equal(r.effects.at(-1), "failed protocol: protocol error: SUBACK for unknown packet id 77");
		assert.equal(r.session.stats.protocolErrors, 1);
	},

	"inbound QoS 1 and 2: delivered once, acknowledged after the handler, on the direct lane and the layered path alike"() {
		for (const utf8 of [nativeDecoder, undefined]) {
			const r = rig({ utf8 });
			const seen: string[] = [];
			let viaLane = false;
			r.session.subscribe(0, "cmd/led", 2, (message) => {
				seen.push(`${message.qos} ${String.fromCharCode(...message.payload)}`);
				viaLane ||= Object.getOwnPropertyDescriptor(message, "topic")?.writable === false;
			});
			open(r, 0);
			r.session.receive(0, encode({ type: PacketType.Suback, packetId: 1, returnCodes: [2] }));
			r.session.receive(1, inbound("cmd/led", "ON", 1, 7));
			assert.deepEqual(drain(r, 1), [{ type: PacketType.Puback, packetId: 7 }]);
			r.session.receive(2, inbound("cmd/led", "OFF", 2, 9));
			r.session.receive(3, inbound("cmd/led", "OFF", 2, 9, true));
			assert.deepEqual(drain(r, 3), [{ type: PacketType.Pubrec, packetId: 9 }, { type: PacketType.Pubrec, packetId: 9 }]);
			r.session.receive(4, ack(PacketType.Pubrel, 9));
			assert.deepEqual(drain(r, 4), [{ type: PacketType.Pubcomp, packetId: 9 }]);
			assert.deepEqual(seen, ["1 ON", "2 OFF"]);
			assert.equal(r.session.stats.duplicatesIgnored, 1);
			assert.equal(viaLane, utf8 !== undefined, "the QoS 1 command takes the direct lane only with a native decoder");
		}
	},

	"a deliver hook sees every message after its handler"() {
		const r = rig({}, true);
		r.session.subscribe(0, "a/+", 0, (message) => void r.effects.push(`handler ${message.topic}`));
		open(r, 0);
		r.effects.length = 0;
		r.session.receive(1, inbound("a/b", "1", 0));
		r.session.receive(1, inbound("z", "2", 0));
		assert.deepEqual(r.effects, ["handler a/b", "deliver a/b", "deliver z"]);
	},

	"outbound QoS 1: handed out at once when quiet, acknowledged, and sent again as DUP on a resumed session"() {
		const r = rig();
		open(r, 0);
		const outcomes: PublishOutcome[] = [];
		const direct = r.session.publishWith(1, "t/x", encodeUtf8("21.5"), 1, false, 1536, false, (outcome) => void outcomes.push(outcome));
		assert.ok(direct instanceof Uint8Array, "quiet and it fits: returned to be written now");
		const first = asPublish(decode(direct.slice()) as Packet);
		assert.deepEqual([first.topic, first.qos, first.dup, first.packetId], ["t/x", 1, false, 1]);
		assert.equal(r.session.inflight, 1);
		r.session.abort(2, "link lost");
		const replay = open(r, 10, true);
		assert.equal(replay.length, 1);
		const again = asPublish(replay[0]);
		assert.deepEqual([again.topic, again.dup, again.packetId, String.fromCharCode(...again.payload)], ["t/x", true, 1, "21.5"]);
		assert.equal(r.session.stats.retransmitted, 1);
		r.session.receive(25, ack(PacketType.Puback, 1));
		assert.equal(r.session.inflight, 0);
		assert.equal(r.session.stats.lastRoundTrip, 15);
		assert.deepEqual(outcomes, ["acknowledged"]);
	},

	"outbound: with no room the message waits for transmit; offline it waits in the outbox for the CONNACK"() {
		const r = rig();
		assert.equal(r.session.publish(0, "q/0", encodeUtf8("a"), 0, false, 1536), true, "offline: queued");
		assert.equal(r.session.outbox.length, 1);
		const sent = open(r, 1);
		assert.deepEqual(sent.map((packet) => asPublish(packet).topic), ["q/0"]);
		assert.equal(r.session.publish(2, "q/1", encodeUtf8("b"), 1, true, 0), true, "no room now: taken, to be pulled");
		assert.equal(r.session.status.quiet, false, "the driver must ask transmit()");
		const [pulled, ...rest] = drain(r, 2);
		assert.deepEqual(rest, []);
		const message = asPublish(pulled);
		assert.deepEqual([message.topic, message.qos, message.retain, message.packetId], ["q/1", 1, true, 1]);
		assert.equal(r.session.status.quiet, true);
	},

	"disconnect: what is owed goes out, DISCONNECT last, then the transport closes"() {
		const r = rig();
		r.session.subscribe(0, "c", 1, () => undefined);
		open(r, 0);
		r.session.receive(0, encode({ type: PacketType.Suback, packetId: 1, returnCodes: [1] }));
		r.session.receive(1, inbound("c", "x", 1, 5));
		r.effects.length = 0;
		r.session.disconnect(2);
		assert.equal(r.session.state, "closing");
		assert.deepEqual(types(drain(r, 2)), [PacketType.Puback, PacketType.Disconnect]);
		assert.deepEqual(r.effects, ["state closing", "close: disconnected by the application", "state idle"]);
		assert.equal(r.session.timeout(), undefined);
	},

	"the contract: what each call returns, whatever the state"() {
		const r = rig({ outbox: { maxMessages: 1, maxBytes: 4096, policy: "reject-new" } });
		assert.equal(r.session.transmit(0), undefined, "no transport: nothing to send");
		assert.equal(r.session.timeout(), undefined, "idle: no timer");
		assert.equal(r.session.publish(0, "a", encodeUtf8("1"), 0, false, 1536), true, "offline: taken into the outbox");
		assert.equal(r.session.publish(0, "a", encodeUtf8("2"), 0, false, 1536), false, "the outbox refused it");
		assert.equal(r.effects.at(-1), "error limit: outbox full (1 messages, 6 bytes): rejected a publish to a");
		assert.throws(() => r.session.publish(0, "a/#", encodeUtf8("x"), 0, false, 1536), /wildcard/);
		assert.throws(() => r.session.publish(0, "a", encodeUtf8("x"), 3 as QoS, false, 1536), /QoS must be 0, 1 or 2/);
		open(r, 1);
		assert.equal(r.session.status.quiet, true);
		// Quiet, and the packet fits the room given: bytes to write now, at each QoS the fast path takes and beyond it.
		const outcomes: PublishOutcome[] = [];
		const qos0 = r.session.publishWith(2, "a", encodeUtf8("3"), 0, false, 1536, false, (outcome) => void outcomes.push(outcome));
		assert.ok(qos0 instanceof Uint8Array);
		assert.deepEqual(outcomes, ["written"], "told before the bytes are handed back: the caller writes them next");
		assert.ok(r.session.publish(2, "a", encodeUtf8("4"), 1, false, 1536) instanceof Uint8Array);
		assert.ok(r.session.publish(2, "a", new Uint8Array(300), 1, false, 1536) instanceof Uint8Array, "a large one too, while nothing waits");
		assert.equal(r.session.publish(2, "a", new Uint8Array(300), 0, false, 200), true, "past the room: taken, to be pulled");
		assert.equal(r.session.status.quiet, false);
		assert.equal(drain(r, 2).length, 1);
		assert.equal(r.session.transmit(2), undefined, "all pulled");
		assert.equal(r.session.status.quiet, true, "the last transmit() left it quiet");
	},

	"the status is the session's alone: timeout() clears timeoutChanged, and only a change of deadline sets it"() {
		const r = rig();
		r.session.subscribe(0, "in", 0, () => undefined);
		r.session.connect(0);
		assert.equal(r.session.status.timeoutChanged, true, "connect arms the CONNACK deadline");
		assert.equal(r.session.timeout(), 10000);
		assert.equal(r.session.status.timeoutChanged, false, "asked: cleared by the session itself");
		r.session.transportOpened(0);
		drain(r, 0);
		assert.equal(r.session.status.timeoutChanged, false, "CONNECT sent: the deadline stands");
		r.session.receive(1, encode({ type: PacketType.Connack, sessionPresent: false, returnCode: 0 }));
		assert.equal(r.session.status.timeoutChanged, true, "connected: keepalive replaces the CONNACK deadline");
		assert.equal(r.session.timeout(), 30001);
		drain(r, 1);
		r.session.receive(2, encode({ type: PacketType.Suback, packetId: 1, returnCodes: [0] }));
		r.session.receive(3, inbound("in", "x", 0));
		assert.ok(r.session.publish(4, "out", encodeUtf8("y"), 1, false, 1536) instanceof Uint8Array);
		r.session.receive(5, ack(PacketType.Puback, 2));
		assert.equal(r.session.status.timeoutChanged, false, "messages in and out only move the keepalive later: no new timer");
		assert.equal(r.session.status.quiet, true);
		r.session.wake(30001);
		assert.equal(r.session.status.timeoutChanged, true, "a wake always asks for the next time");
		assert.equal(r.session.timeout(), 30004, "the keepalive from the last message sent");
		assert.equal(r.session.status.timeoutChanged, false);
	},

	"an inbound QoS 2 message: PUBREC, delivered once, PUBCOMP at PUBREL; a broker past maxInboundPending is refused"() {
		const r = rig({ maxInboundPending: 1 });
		const seen: string[] = [];
		r.session.subscribe(0, "q2", 2, (message) => void seen.push(String.fromCharCode(...message.payload)));
		open(r, 0);
		r.session.receive(0, encode({ type: PacketType.Suback, packetId: 1, returnCodes: [2] }));
		r.session.receive(1, inbound("q2", "a", 2, 7));
		r.session.receive(2, inbound("q2", "a", 2, 7, true));
		assert.deepEqual(seen, ["a"], "the retransmission is not delivered again");
		assert.deepEqual(drain(r, 2).map((packet) => [packet.type, (packet as { packetId: number }).packetId]), [[PacketType.Pubrec, 7], [PacketType.Pubrec, 7]]);
		assert.equal(r.session.stats.duplicatesIgnored, 1);
		r.session.receive(3, inbound("q2", "b", 2, 8));
		assert.equal(r.session.state, "idle");
		assert.equal(r.effects.at(-1), "failed protocol: protocol error: broker exceeded 1 unreleased QoS 2 messages");
		assert.deepEqual(seen, ["a"]);
	},

	"the in-flight window moves its own cursor: the oldest leaving, the newest going now, as remove and take do"() {
		const topic = new PublishBuffers().prepare("t");
		const payload = new Uint8Array(1);
		const state = (window: InflightWindow) => `${window.entries.map((entry) => entry.packetId).join(",")} | cursor ${window.cursor}`;
		const fill = () => {
			const window = new InflightWindow(4);
			window.take(topic, "t", payload, 1, false, 6, 1, 10);
			window.take(topic, "t", payload, 1, false, 6, 2, 11);
			window.take(topic, "t", payload, 1, false, 6, 3);
			return window;
		};
		const oldest = fill();
		const byIndex = fill();
		assert.equal(state(oldest), "1,2,3 | cursor 2", "two went out as they joined, the third waits");
		oldest.removeOldest();
		byIndex.remove(0);
		assert.equal(state(oldest), "2,3 | cursor 1", "the cursor keeps pointing at the one that waits");
		assert.equal(state(byIndex), state(oldest));
		assert.equal(oldest.nextUnsent()?.packetId, 3);
		oldest.resend();
		oldest.removeOldest();
		assert.equal(state(oldest), "3 | cursor 0", "at the start the cursor stays there");
		assert.equal(oldest.nextUnsent()?.packetId, 3, "what is left still goes again");

		const newest = fill();
		assert.equal(newest.nextUnsent()?.packetId, 3);
		newest.take(topic, "t", payload, 1, false, 6, 4);
		assert.equal(state(newest), "1,2,3,4 | cursor 3", "a message joins unsent");
		newest.sendingNewest();
		assert.equal(state(newest), "1,2,3,4 | cursor 4", "it goes now: the cursor moves past it");
		assert.equal(newest.nextUnsent(), undefined);
		const empty = new InflightWindow(1);
		empty.sendingNewest();
		assert.equal(state(empty), " | cursor 0");
	},

	"a protocol violation from the broker closes the link with the rule broken"() {
		const r = rig();
		r.session.connect(0);
		r.session.transportOpened(0);
		drain(r, 0);
		r.session.receive(1, inbound("early", "x", 0));
		assert.equal(r.session.state, "idle");
		assert.equal(r.effects.at(-1), "failed protocol: protocol error: PUBLISH received before CONNACK");
	},
});
