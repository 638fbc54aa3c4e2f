/*
 * Back-pressure on a virtual clock, on Node and on XS: the socket takes
 * only its budget per turn (1,536 bytes, as Moddable's lin socket; or 1),
 * and throws "would block" past it. Whatever the application asks, every
 * message arrives whole and in order, nothing is lost beyond the outbox's
 * own policy, and no write ever goes past the budget.
 *
 * This file is the budget itself, counted byte by byte per turn: the one
 * write and read rule of every simulated socket, the client under it, and
 * the firmware's heaviest first minutes. The same setups through resets and
 * outages against mosquitto are test/firmware-long-faults.test.ts; on the
 * real SDK's socket in mcsim, test/sdk-backpressure.test.ts.
 */
import { defineSuite } from "test/lib/suite";
import * as assert from "test/lib/assert";
import { FakeHost, seededRandom, text } from "test/lib/fake-host";
import { ReceivedBytes, TlsRecordBudget, WritableBudget } from "simulated/socket";
import { tlsRoom } from "net/tls-record";
import { MqttClient, type ClientOptions } from "mqtt/client";
import { PacketType, type PublishPacket } from "mqtt/packets";
import { parseConfig } from "config";
import { startFirmware } from "firmware/app";
import type { FirmwareHandle } from "platform";

interface Rig {
	host: FakeHost;
	client: MqttClient;
	errors: string[];
}

function rig(options: Partial<ClientOptions> = {}, budget?: number): Rig {
	const host = new FakeHost();
	if (budget !== undefined) host.broker.socketBudget = budget;
	const errors: string[] = [];
	const client = new MqttClient({
		host, address: "127.0.0.1", port: 1883, clientId: "bp", keepalive: 30, random: seededRandom(5),
		backoff: { minimum: 500, maximum: 2000, factor: 2 },
		onError: (kind, message) => errors.push(`${kind}: ${message}`),
		...options,
	});
	return { host, client, errors };
}

/** Runs turns until nothing is left to happen within `ms`. */
function run(r: Rig, ms = 1): void {
	r.host.virtual.advance(ms);
}

/** The payloads the broker received on `topic`, in order. */
function payloads(r: Rig, topic: string): string[] {
	return r.host.broker.publishedTo(topic);
}

/** No connection ever took more than its budget in a turn, and none failed for it. */
function assertWithinBudget(r: { host: FakeHost; errors?: string[] }): void {
	for (const connection of r.host.broker.connections) {
		assert.ok(connection.mostInOneTurn <= connection.budget, `${connection.mostInOneTurn} bytes in one turn, budget ${connection.budget}`);
	}
	const failures = (r.errors ?? []).filter((e) => /would block|transport failed/.test(e));
	assert.deepEqual(failures, []);
}

function numbered(count: number, size: number): string[] {
	const messages: string[] = [];
	for (let i = 0; i < count; i++) {
		const head = `m${i} `;
		messages.push(head + "x".repeat(Math.max(0, size - head.length)));
	}
	return messages;
}

interface Device {
	host: FakeHost;
	firmware: FirmwareHandle;
}

function device(overrides: Record<string, string>, wifiAssociateDelay = 100): Device {
	const host = new FakeHost();
	host.wifiAssociateDelay = wifiAssociateDelay;
	const config = parseConfig({ ssid: "home", sensor: "simulated", mqtt_backoff_min: "500", mqtt_backoff_max: "2000", ...overrides });
	return { host, firmware: startFirmware(host, config, { random: seededRandom(3) }) };
}

function readingSequence(host: FakeHost): number[] {
	return host.broker.publishedTo("sensors/room1/temp").map((payload) => (JSON.parse(payload) as { seq: number }).seq);
}

function assertConsecutive(seqs: number[], from: number, to: number): void {
	assert.equal(seqs.length, to - from + 1, `readings ${seqs.join(",")}`);
	seqs.forEach((seq, i) => assert.equal(seq, from + i, `reading ${i} is ${seq}`));
}

export const suite = defineSuite("back-pressure: the socket's budget per turn", {
	"one budget rule for every simulated socket: what onWritable announced, would block past it, nothing taken"() {
		const budget = new WritableBudget();
		assert.throws(() => budget.take(Uint8Array.of(1)), /would block: 1 bytes written, 0 announced/);
		budget.grant(10);
		const bytes = Uint8Array.of(0, 1, 2, 3, 4, 5);
		const view = budget.take(bytes.subarray(2, 6));
		assert.deepEqual([...view], [2, 3, 4, 5]);
		assert.equal(budget.left, 6);
		assert.throws(() => budget.take(new Uint8Array(7).buffer), /would block: 7 bytes written, 6 announced/);
		assert.equal(budget.left, 6, "a refused write takes nothing");
		assert.equal(budget.take(new ArrayBuffer(6)).byteLength, 6);
		assert.equal(budget.left, 0);
		// The count announced is the whole budget, not an increment.
		budget.grant(3);
		assert.equal(budget.left, 3);
	},

	"one read rule for every simulated socket, Moddable's TCP socket's: onReadable counts all unread; into a buffer, exactly; a count within what arrived; undefined is no count"() {
		const received = new ReceivedBytes();
		assert.equal(received.read(), undefined);
		assert.equal(received.read(new Uint8Array(4)), undefined);
		// onReadable announces what push returns: all the bytes held unread, as lin/tcp.c and lwip/tcp.c count them.
		assert.equal(received.push(Uint8Array.of(1, 2, 3)), 3);
		assert.equal(received.push(Uint8Array.of(4, 5)), 5);
		// An undefined count is read as 0 by the device, and refused: a wrapper that drops "no argument" is caught here.
		assert.throws(() => received.readWith([undefined]), /invalid/);
		assert.throws(() => received.read(new Uint8Array(6)), /invalid/);
		assert.throws(() => received.read(6), /invalid/);
		const into = new Uint8Array(4);
		assert.equal(received.read(into), 4);
		assert.deepEqual([...into], [1, 2, 3, 4]);
		assert.equal(received.available, 1);
		assert.deepEqual([...new Uint8Array(received.read()!)], [5]);
		assert.equal(received.read(), undefined);
	},

	"the simulated socket refuses a write past its budget with would block, and refills it next turn"() {
		const r = rig();
		r.client.start();
		run(r);
		const connection = r.host.broker.current!;
		assert.equal(connection.budget, 1536);
		let refills = 0;
		const options = connection.options;
		const onWritable = options.onWritable;
		options.onWritable = (count) => {
			refills++;
			onWritable(count);
		};
		// The client's own writes went through; a write past what is left throws and takes nothing.
		const written = connection.written;
		assert.throws(() => connection.write(new Uint8Array(1537)), /would block/);
		assert.equal(connection.written, written);
		run(r, 0);
		assert.equal(refills, 0, "nothing was written this turn, so nothing is announced");
		connection.write(Uint8Array.of(0xc0, 0));
		run(r, 0);
		assert.equal(refills, 1, "the budget comes back on the next turn");
	},

	"Home Assistant discovery on: online, the LED state, every config and the readings taken while connecting all arrive, within the budget"() {
		// Wi-Fi takes 3 s to come up, as a real access point may: 15 readings wait, as in mcsim.
		const { host, firmware } = device({ ha_discovery: "true", sensor_interval: "200", sensor_qos: "0" }, 3000);
		host.virtual.advance(3200);
		assert.equal(firmware.status().mqtt, "connected");
		assertWithinBudget({ host });
		assert.equal(host.broker.connections.length, 1, "one connection: no write ever failed");
		const topics = host.broker.published.map((packet) => packet.topic);
		assert.equal(topics[0], "sensors/room1/status", "online goes first");
		assert.equal(text(host.broker.retained.get("sensors/room1/status")!.payload), "online");
		assert.equal(text(host.broker.retained.get("control/room1/led/state")!.payload), "off");
		const configs = topics.filter((topic) => topic.startsWith("homeassistant/") && topic.endsWith("/config"));
		// Temperature, humidity, the LED and six diagnostic entities (this host reports none of its own figures).
		assert.equal(configs.length, 9, topics.join(" "));
		for (const topic of configs) assert.ok(host.broker.retained.get(topic)!.payload.length > 300, `${topic} whole`);
		const seqs = readingSequence(host);
		assertConsecutive(seqs, 1, seqs.length);
		assert.ok(seqs.length >= 15, `${seqs.length} readings`);
		// The first turn after CONNACK had more to write than the budget: it took several.
		assert.ok(host.broker.current!.written > 1536, `${host.broker.current!.written} bytes written`);
	},

	"a QoS 0 backlog of 100 messages taken through an outage is delivered in order after it, a budget at a time"() {
		const r = rig();
		r.client.start();
		run(r);
		r.host.broker.setUp(false);
		const messages = numbered(100, 80);
		for (const message of messages) assert.equal(r.client.publish("s/t", message), true);
		run(r, 3000);
		assert.equal(r.client.state, "waiting");
		r.host.broker.setUp(true);
		run(r, 3000);
		assert.equal(r.client.state, "connected");
		assert.deepEqual(payloads(r, "s/t"), messages);
		assert.equal(r.client.stats.dropped, 0);
		assertWithinBudget(r);
		assert.ok(r.host.broker.current!.written > 3 * 1536, "the backlog took several turns");
	},

	"the firmware at sensor_qos=0, a reading every 200 ms, through a 10 s broker outage: no reading lost, all in order"() {
		const { host, firmware } = device({ sensor_interval: "200", sensor_qos: "0" });
		host.virtual.advance(2000);
		assert.equal(firmware.status().mqtt, "connected");
		host.broker.setUp(false);
		host.virtual.advance(10_000);
		host.broker.setUp(true);
		host.virtual.advance(3000);
		const status = firmware.status();
		assert.equal(status.mqtt, "connected");
		assert.equal(status.dropped, 0);
		const seqs = readingSequence(host);
		assertConsecutive(seqs, 1, status.readings as number);
		assert.ok(seqs.length >= 70, `${seqs.length} readings`);
		assertWithinBudget({ host });
	},

	"a burst of 1,000 LED toggles while readings flow every 100 ms: no reading lost, the LED state last value wins, and ends right"() {
		const { host, firmware } = device({ sensor_interval: "100" });
		host.virtual.advance(1000);
		for (let i = 0; i < 1000; i++) host.broker.deliver("control/room1/led", "toggle", 1);
		host.virtual.advance(3000);
		const status = firmware.status();
		assert.equal(status.ledCommands, 1000);
		assert.equal(status.led, "off", "1,000 toggles from off end off");
		assert.equal(status.dropped, 0, "nothing evicted from the outbox");
		assertConsecutive(readingSequence(host), 1, status.readings as number);
		const states = host.broker.publishedTo("control/room1/led/state");
		assert.equal(states.at(-1), "off");
		assert.equal(text(host.broker.retained.get("control/room1/led/state")!.payload), "off");
		assert.ok(states.length < 1000, `${states.length} state messages: superseded while they waited`);
		assertWithinBudget({ host });
	},

	"a burst of 1,000 publishes from the API: all in order when the outbox can hold them, at QoS 0 and at QoS 1"() {
		for (const qos of [0, 1] as const) {
			const r = rig({ outbox: { maxMessages: 1000, maxBytes: 1 << 20, policy: "drop-oldest" } });
			r.client.start();
			run(r);
			const messages = numbered(1000, 40);
			for (const message of messages) assert.equal(r.client.publish("s/burst", message, { qos }), true);
			run(r, 100);
			assert.deepEqual(payloads(r, "s/burst"), messages, `QoS ${qos}`);
			assert.equal(r.client.stats.dropped, 0);
			assert.equal(r.client.queued, 0);
			assert.equal(r.client.inflight, 0);
			assertWithinBudget(r);
		}
	},

	"a burst of 1,000 publishes past the default outbox: what fit the budget, then the newest 100, in order; the rest counted as dropped"() {
		const r = rig();
		r.client.start();
		run(r);
		const messages = numbered(1000, 40);
		for (const message of messages) r.client.publish("s/burst", message);
		run(r, 100);
		const received = payloads(r, "s/burst");
		const dropped = r.client.stats.dropped;
		assert.equal(received.length + dropped, 1000);
		assert.deepEqual(received.slice(-100), messages.slice(-100), "the newest 100 survive");
		const direct = received.length - 100;
		assert.ok(direct > 0 && direct * 46 <= 1536, `${direct} written at once within the budget`);
		assert.deepEqual(received.slice(0, direct), messages.slice(0, direct), "the first ones in order");
		assertWithinBudget(r);
	},

	"a 4 KB retained payload goes out in slices and arrives whole, ahead of what was published after it"() {
		for (const qos of [0, 1] as const) {
			const r = rig();
			r.client.start();
			run(r);
			const big = new Uint8Array(4096);
			for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
			assert.equal(r.client.publish("s/big", big, { qos, retain: true }), true);
			r.client.publish("s/after", "after", { qos });
			run(r, 10);
			const retained = r.host.broker.retained.get("s/big")!;
			assert.deepEqual(Array.from(retained.payload), Array.from(big), `QoS ${qos}`);
			const topics = r.host.broker.published.map((packet) => packet.topic);
			assert.deepEqual(topics, ["s/big", "s/after"]);
			assertWithinBudget(r);
		}
	},

	"Moddable's TLS socket: 96 left at onWritable, each write a record with its overhead, 32 left after it; writing all it returned overruns, the room the hosts give does not"() {
		const budget = new TlsRecordBudget();
		budget.grant(1536);
		assert.equal(budget.left, 1440);
		budget.take(new Uint8Array(100));
		// A 100-byte write is a 165-byte record (header 5, IV 16, 100 + MAC 32 + padding to 144): 1,371 left, 1,339 returned.
		assert.equal(budget.left, 1339);
		assert.throws(() => budget.take(new Uint8Array(1339)), /would block: a TLS record of 1397 bytes for 1339 written, 1371 left/);
		assert.equal(budget.left, 1339, "a refused write takes nothing");
		assert.equal(tlsRoom(1339), 1302);
		budget.take(new Uint8Array(1302));
		assert.equal(budget.left, 0);
		assert.equal(tlsRoom(20), 0);
	},

	"over TLS at the lin budget: a backlog after an outage and a 4 KB message go out a record at a time, whole and in order, never would block"() {
		const r = rig({ tls: { serverName: "broker" } });
		r.client.start();
		run(r);
		r.host.broker.setUp(false);
		const messages = numbered(60, 90);
		for (const message of messages) assert.equal(r.client.publish("s/t", message), true);
		run(r, 3000);
		const attempts = r.host.broker.connections.length;
		r.host.broker.setUp(true);
		run(r, 3000);
		assert.equal(r.client.state, "connected");
		const big = new Uint8Array(4096).fill(7);
		assert.equal(r.client.publish("s/big", big, { qos: 1 }), true);
		run(r, 100);
		assert.deepEqual(payloads(r, "s/t"), messages);
		assert.equal(r.host.broker.publishedTo("s/big").length, 1);
		assertWithinBudget(r);
		assert.equal(r.host.broker.connections.length, attempts + 1, "one connection after the outage, never dropped");
	},

	"a budget of 1 byte per turn: connect, subscribe, publish at every QoS, take a command and answer it, all in order"() {
		const r = rig({ will: { topic: "s/status", payload: "offline", qos: 1, retain: true }, birth: { topic: "s/status", payload: "online", qos: 1, retain: true } }, 1);
		const handled: string[] = [];
		r.client.subscribe("c/led", 1, (message) => {
			handled.push(text(message.payload));
			r.client.publish("c/led/state", message.payload, { qos: 1, retain: true });
		});
		for (let i = 0; i < 5; i++) r.client.publish("s/t", `early ${i}`, { qos: 1 });
		r.client.start();
		run(r, 100);
		assert.equal(r.client.state, "connected");
		const messages = numbered(20, 30);
		messages.forEach((message, i) => r.client.publish("s/t", message, { qos: (i % 3) as 0 | 1 | 2 }));
		r.host.broker.deliver("c/led", "on", 1);
		run(r, 100);
		assert.deepEqual(handled, ["on"]);
		assert.deepEqual(payloads(r, "s/t"), [...[0, 1, 2, 3, 4].map((i) => `early ${i}`), ...messages]);
		assert.deepEqual(payloads(r, "c/led/state"), ["on"]);
		assert.equal(payloads(r, "s/status")[0], "online");
		const connection = r.host.broker.current!;
		assert.equal(connection.mostInOneTurn, 1);
		// The command's PUBACK went out before the state its handler published.
		const sent = connection.received;
		const puback = sent.findIndex((packet) => packet.type === PacketType.Puback);
		const state = sent.findIndex((packet) => packet.type === PacketType.Publish && (packet as PublishPacket).topic === "c/led/state");
		assert.ok(puback >= 0 && puback < state, `PUBACK at ${puback}, state at ${state}`);
		assert.equal(r.client.inflight, 0);
		assertWithinBudget(r);
		assert.equal(r.host.broker.connections.length, 1);
	},

	"an acknowledgement owed for a command goes out before anything its handler publishes"() {
		const r = rig();
		r.client.subscribe("c/x", 1, () => {
			r.client.publish("s/reply", "reply", { qos: 0 });
		});
		r.client.start();
		run(r);
		r.host.broker.deliver("c/x", "go", 1);
		run(r, 0);
		const types = r.host.broker.current!.received.map((packet) => packet.type);
		const puback = types.indexOf(PacketType.Puback);
		const reply = types.lastIndexOf(PacketType.Publish);
		assert.ok(puback >= 0 && puback < reply, types.join(","));
	},
});
