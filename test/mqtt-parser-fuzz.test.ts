/*
 * Seeded, reproducible fuzzing of the inbound path: 100,000 random and
 * mutated streams through the parser and the session, in random splits.
 * No exception may escape, every error must name a rule, and memory must
 * stay bounded.
 */
import assert from "node:assert/strict";
import { encode } from "test/lib/broker-codec";
import { PacketParser } from "mqtt/parser";
import { PacketType } from "mqtt/packets";
import { MqttClient } from "mqtt/client";
import { samplePackets } from "test/portable/mqtt-codec";
import { FakeHost, seededRandom } from "test/lib/fake-host";

const seed = Number(process.env.FUZZ_SEED ?? 20261122);
const streams = Number(process.env.FUZZ_STREAMS ?? 100000);

function mutate(random: () => number, valid: Uint8Array[]): Uint8Array {
	const pick = () => valid[Math.floor(random() * valid.length)]!;
	const kind = Math.floor(random() * 6);
	if (kind === 0) {
		// Pure noise.
		const noise = new Uint8Array(1 + Math.floor(random() * 48));
		for (let i = 0; i < noise.length; i++) noise[i] = Math.floor(random() * 256);
		return noise;
	}
	const base = Uint8Array.from([...pick(), ...(random() < 0.5 ? pick() : [])]);
	if (kind === 1) {
		// Bit flips.
		for (let n = 1 + Math.floor(random() * 4); n > 0; n--) base[Math.floor(random() * base.length)]! ^= 1 << Math.floor(random() * 8);
		return base;
	}
	if (kind === 2) return base.subarray(0, Math.floor(random() * base.length));
	if (kind === 3) {
		// A lying remaining length.
		base[1] = Math.floor(random() * 256);
		return base;
	}
	if (kind === 4) {
		// Spliced from two packets.
		const other = pick();
		const cut = Math.floor(random() * base.length);
		return Uint8Array.from([...base.subarray(0, cut), ...other.subarray(Math.floor(random() * other.length))]);
	}
	// A valid stream, for contrast.
	return base;
}

describe(`fuzzing the inbound path (seed ${seed})`, function () {
	this.timeout(120000);
	const valid = samplePackets()
		.filter((packet) => packet.type !== PacketType.Publish || packet.payload.length < 1000)
		.map(encode);

	it(`survives ${streams} random and mutated streams in random splits`, function () {
		const random = seededRandom(seed);
		const maxPacketSize = 512;
		let packets = 0, errors = 0, maxBuffered = 0;
		const rules = new Set<string>();
		const parser = new PacketParser({ maxPacketSize, oversize: "skip" }, {
			packet: () => void packets++,
			publish: () => void packets++,
			skipped: () => void packets++,
			error: (rule) => {
				errors++;
				assert.ok(rule.length > 10, `unnamed rule "${rule}"`);
				rules.add(rule.replace(/\d+/g, "N"));
			},
		});
		global.gc?.();
		const heapBefore = process.memoryUsage().heapUsed;
		for (let i = 0; i < streams; i++) {
			const stream = mutate(random, valid);
			parser.reset();
			let offset = 0;
			while (offset < stream.length) {
				const size = 1 + Math.floor(random() * 16);
				parser.push(stream.subarray(offset, offset + size));
				maxBuffered = Math.max(maxBuffered, parser.buffered);
				offset += size;
			}
		}
		global.gc?.();
		const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
		assert.ok(packets > 10000, `only ${packets} valid packets`);
		assert.ok(errors > 10000, `only ${errors} errors`);
		assert.ok(rules.size > 15, `only ${rules.size} distinct rules`);
		assert.ok(maxBuffered <= maxPacketSize, `buffered ${maxBuffered}`);
		assert.ok(heapGrowth < 8 * 1024 * 1024, `heap grew ${heapGrowth} bytes`);
	});

	it("keeps the client running through 5,000 hostile connections", function () {
		const random = seededRandom(seed + 1);
		const host = new FakeHost();
		const client = new MqttClient({
			host, address: "127.0.0.1", port: 1883, clientId: "fuzz", random, maxPacketSize: 512,
			backoff: { minimum: 10, maximum: 10, factor: 1 }, onError: () => {},
		});
		let delivered = 0;
		client.subscribe("#", 2, () => void delivered++);
		client.start();
		for (let i = 0; i < 5000; i++) {
			host.virtual.advance(20);
			const connection = host.broker.current;
			if (!connection) continue;
			connection.sendBytes(mutate(random, valid));
			assert.ok(host.virtual.pending <= 2, "timers do not pile up");
		}
		assert.ok(client.stats.protocolErrors >= 200, `${client.stats.protocolErrors} protocol errors`);
		// Each one closed the connection, and the client came back every time.
		assert.ok(client.stats.connects + client.stats.failedAttempts >= client.stats.protocolErrors, `${client.stats.connects} connects`);
		assert.ok(client.stats.connects >= 200, `${client.stats.connects} connects`);
		// A fresh connection after the storm works normally.
		host.broker.current?.drop();
		host.virtual.advance(100);
		const before = delivered;
		host.broker.deliver("after/the/storm", "ok", 1);
		assert.equal(client.state, "connected");
		assert.equal(delivered, before + 1);
	});
});
