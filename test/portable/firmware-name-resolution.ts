/*
 * The broker by name, on a virtual clock, on Node and on XS: the look-up is
 * a step of every connection attempt, with its timeout; failures say the
 * name and the reason and back off like any failed attempt; the address is
 * kept until a connection to it fails. The DNS here is test/lib/fake-host's
 * script; test/firmware-dns.test.ts runs the same firmware against a real DNS
 * responder on loopback.
 */
import { defineSuite } from "test/lib/suite";
import * as assert from "test/lib/assert";
import { FakeHost, seededRandom } from "test/lib/fake-host";
import { parseConfig } from "config";
import { startFirmware } from "firmware/app";
import { BrokerAddress } from "net/resolution";
import { isIPv4, literalAddress } from "net/ipv4";
import type { FirmwareHandle } from "platform";

function boot(overrides: Record<string, string>, prepare?: (host: FakeHost) => void): { host: FakeHost; firmware: FirmwareHandle } {
	const host = new FakeHost();
	prepare?.(host);
	const config = parseConfig({
		ssid: "home", sensor: "simulated", sensor_interval: "1000", mqtt_backoff_min: "500", mqtt_backoff_max: "4000",
		mqtt_host: "broker.lan", dns_servers: "192.168.1.1", ...overrides,
	});
	return { host, firmware: startFirmware(host, config, { random: seededRandom(5) }) };
}

const addresses = (host: FakeHost): string[] => host.broker.connections.map((connection) => connection.options.address);
/** Why each attempt failed, from the one line the firmware logs for it: `waiting: <reason>; retrying in N ms`. */
const errors = (host: FakeHost): string[] => host.logs.filter((entry) => entry.tag === "mqtt" && entry.message.startsWith("waiting: "))
	.map((entry) => entry.message.replace(/^waiting: /, "").replace(/; retrying in \d+ ms$/, ""));

export const suite = defineSuite("the broker by name", {
	"an IPv4 literal and localhost are their own address: no look-up"() {
		for (const [name, address] of [["10.0.0.7", "10.0.0.7"], ["localhost", "127.0.0.1"], ["LOCALHOST", "127.0.0.1"]] as const) {
			const { host, firmware } = boot({ mqtt_host: name });
			host.virtual.advance(300);
			assert.equal(firmware.status().mqtt, "connected", name);
			assert.equal(host.lookups.length, 0, name);
			assert.deepEqual(addresses(host), [address], name);
		}
	},

	"a name is looked up at the configured servers, then connected to"() {
		const { host, firmware } = boot({ dns_servers: "192.168.1.1, 1.1.1.1" }, (h) => h.dns.set("broker.lan", { address: "192.168.1.20" }));
		host.virtual.advance(300);
		assert.equal(firmware.status().mqtt, "connected");
		assert.equal(host.lookups.length, 1);
		assert.equal(host.lookups[0]!.host, "broker.lan");
		assert.deepEqual(host.lookups[0]!.servers, ["192.168.1.1", "1.1.1.1"]);
		assert.deepEqual(addresses(host), ["192.168.1.20"]);
		assert.equal(host.logged("dns", /^broker\.lan is 192\.168\.1\.20$/).length, 1);
	},

	"the address is kept while connections to it succeed"() {
		const { host, firmware } = boot({}, (h) => h.dns.set("broker.lan", { address: "192.168.1.20" }));
		host.virtual.advance(300);
		for (let i = 0; i < 3; i++) {
			host.broker.current!.drop("connection reset");
			host.virtual.advance(5000);
			assert.equal(firmware.status().mqtt, "connected");
		}
		assert.equal(host.lookups.length, 1, "one look-up for four connections");
		assert.deepEqual(addresses(host), ["192.168.1.20", "192.168.1.20", "192.168.1.20", "192.168.1.20"]);
	},

	"a connection to the address that fails makes the next attempt look the name up again"() {
		const { host, firmware } = boot({}, (h) => h.dns.set("broker.lan", { address: "192.168.1.20" }));
		host.virtual.advance(300);
		// The broker's lease moved: the old address refuses, the DNS has the new one.
		host.brokerAddress = "192.168.1.21";
		host.dns.set("broker.lan", { address: "192.168.1.21" });
		host.broker.current!.drop("connection reset");
		host.virtual.advance(10000);
		assert.equal(firmware.status().mqtt, "connected");
		assert.equal(host.lookups.length, 2);
		assert.deepEqual(addresses(host), ["192.168.1.20", "192.168.1.21"]);
		assert.ok(errors(host).includes("connection to 192.168.1.20 refused"), errors(host).join(" | "));
	},

	"a failed look-up says the name and the reason, and backs off like any failed attempt"() {
		const { host, firmware } = boot({}, (h) => h.dns.set("broker.lan", { error: "no such name (NXDOMAIN from 192.168.1.1)" }));
		host.virtual.advance(20000);
		assert.equal(firmware.status().mqtt, "waiting");
		assert.equal(host.broker.connections.length, 0, "no socket without an address");
		assert.equal(errors(host)[0], "cannot resolve broker.lan: no such name (NXDOMAIN from 192.168.1.1)");
		const waits = host.logs.filter((entry) => entry.tag === "mqtt" && entry.message.startsWith("waiting: cannot resolve broker.lan: no such name"));
		assert.ok(waits.length >= 3 && waits.every((entry) => /; retrying in \d+ ms$/.test(entry.message)), waits.map((w) => w.message).join(" | "));
		// Backoff: look-ups spread out, never closer than the floor, up to the ceiling.
		const gaps = host.lookups.slice(1).map((lookup, i) => lookup.at - host.lookups[i]!.at);
		assert.ok(gaps.every((gap) => gap >= 500 && gap <= 4000 + 20), gaps.join(","));
		assert.ok(gaps.length >= 3 && gaps.length <= 40, `${gaps.length} look-ups in 20 s`);
		// The name appears: the next attempt connects.
		host.dns.set("broker.lan", { address: "192.168.1.20" });
		host.virtual.advance(5000);
		assert.equal(firmware.status().mqtt, "connected");
	},

	"no answer within dns_timeout fails the attempt at the deadline, naming the servers"() {
		const { host, firmware } = boot({ dns_timeout: "2000" });
		host.virtual.advance(100);
		const asked = host.lookups[0]!.at;
		host.virtual.advance(asked + 1999 - host.virtual.now);
		assert.equal(firmware.status().mqtt, "connecting", "still waiting at 1999 ms");
		host.virtual.advance(1);
		assert.equal(firmware.status().mqtt, "waiting");
		assert.equal(errors(host)[0], "cannot resolve broker.lan: no answer from 192.168.1.1 within 2000 ms");
	},

	"a host timer that fires early does not lose the look-up's deadline"() {
		const { host, firmware } = boot({ dns_timeout: "2000" }, (h) => void (h.virtual.early = 3));
		host.virtual.advance(2500);
		assert.equal(firmware.status().mqtt, "waiting");
		assert.equal(errors(host)[0], "cannot resolve broker.lan: no answer from 192.168.1.1 within 2000 ms");
	},

	"an answer that comes after the deadline is ignored; the next attempt asks again"() {
		const { host } = boot({ dns_timeout: "1000" }, (h) => {
			h.dns.set("broker.lan", { address: "192.168.1.20" });
			h.dnsDelay = 1500;
		});
		host.virtual.advance(1200);
		assert.equal(host.broker.connections.length, 0);
		host.virtual.advance(600);
		assert.equal(host.broker.connections.length, 0, "the late answer opened nothing");
		assert.equal(errors(host).length, 1, errors(host).join(" | "));
		host.virtual.advance(5000);
		assert.ok(host.lookups.length >= 2, "asked again after the backoff");
		assert.equal(host.broker.connections.length, 0, "still no late answer acted on");
	},

	"stopped mid look-up: the answer opens nothing"() {
		const { host, firmware } = boot({}, (h) => h.dns.set("broker.lan", { address: "192.168.1.20" }));
		host.virtual.advance(110);
		assert.equal(host.lookups.length, 1);
		firmware.shutdown();
		host.virtual.advance(1000);
		assert.equal(host.broker.connections.length, 0);
		assert.equal(host.virtual.pending, 0, "no timer left behind");
	},

	"Wi-Fi lost mid look-up: the answer opens nothing, and the name is looked up again on resume"() {
		const { host, firmware } = boot({}, (h) => h.dns.set("broker.lan", { address: "192.168.1.20" }));
		host.virtual.advance(110);
		host.setAccessPoint(false);
		host.virtual.advance(50);
		assert.equal(host.broker.connections.length, 0);
		host.setAccessPoint(true);
		host.virtual.advance(30000);
		assert.equal(firmware.status().mqtt, "connected");
		assert.equal(host.broker.connections.length, 1);
	},

	"the step: an answer that is not an IPv4 address fails clearly"() {
		const address = new BrokerAddress("broker.lan", { servers: [], timeout: 5000 });
		const step = address.begin(0);
		assert.equal(step.kind, "resolve");
		const next = address.answer((step as { lookup: number }).lookup, "fe80::1");
		assert.deepEqual(next, { kind: "fail", reason: 'cannot resolve broker.lan: the answer "fe80::1" is not an IPv4 address' });
		assert.equal(address.address, undefined);
	},

	"the step: an empty server list is described as the network's servers"() {
		const address = new BrokerAddress("broker.lan", { servers: [], timeout: 5000 });
		address.begin(100);
		assert.equal(address.deadline, 5100);
		assert.equal(address.wake(5099), undefined);
		assert.deepEqual(address.wake(5100), { kind: "fail", reason: "cannot resolve broker.lan: no answer from the network's DNS servers within 5000 ms" });
		assert.equal(address.deadline, -1);
	},

	"IPv4 literals: what skips the look-up and what does not"() {
		for (const literal of ["0.0.0.0", "10.0.0.1", "255.255.255.255", "127.0.0.53"]) assert.ok(isIPv4(literal), literal);
		for (const name of ["256.1.1.1", "10.0.0", "10.0.0.1.2", "010.0.0.1", "broker.lan", "1.2.3.4.", "", " 10.0.0.1", "fe80::1"]) assert.ok(!isIPv4(name), name);
		assert.equal(literalAddress("localhost"), "127.0.0.1");
		assert.equal(literalAddress("homeassistant.local"), undefined);
	},

	"config: dns_servers is comma-separated IPv4, dns_timeout fits inside the CONNACK timeout"() {
		assert.deepEqual(parseConfig({ ssid: "x" }).mqtt.dns, { servers: [], timeout: 5000 });
		assert.deepEqual(parseConfig({ ssid: "x", dns_servers: " 192.168.1.1 ,1.1.1.1", dns_timeout: "2500" }).mqtt.dns, { servers: ["192.168.1.1", "1.1.1.1"], timeout: 2500 });
		assert.throws(() => parseConfig({ ssid: "x", dns_servers: "192.168.1.1,dns.google,300.1.1.1" }),
			/dns_servers="192\.168\.1\.1,dns\.google,300\.1\.1\.1" must be comma-separated IPv4 addresses \(not dns\.google, 300\.1\.1\.1\)/);
		assert.throws(() => parseConfig({ ssid: "x", dns_timeout: "50" }), /dns_timeout="50" must be an integer 100-600000/);
		assert.throws(() => parseConfig({ ssid: "x", mqtt_host: "broker.lan", dns_timeout: "10000" }), /dns_timeout=10000 must be shorter than mqtt_connack_timeout \(10000\)/);
		// An address needs no look-up, so a short CONNACK timeout is no conflict.
		assert.equal(parseConfig({ ssid: "x", mqtt_host: "10.0.0.2", mqtt_connack_timeout: "1000" }).mqtt.connackTimeout, 1000);
	},
});
