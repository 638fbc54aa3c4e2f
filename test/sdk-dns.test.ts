/*
 * The broker by name in the firmware the real Moddable SDK builds for the
 * desktop simulator, run in mcsim: Moddable's ECMA-419 DNS resolver over
 * its UDP socket, asking the test's DNS responder on port 53 of a loopback
 * address (dns_servers), then mosquitto. Each look-up failure is reported
 * with the name and the reason and backed off, a malformed reply does not
 * abort XS, the firmware keeps publishing through a broker outage, and TLS
 * works by name: a wrong CA and a wrong name each fail clearly and back off.
 * Port 53 needs root, as in CI; elsewhere the suite is skipped, saying why.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import mqtt from "mqtt";
import { Mosquitto } from "../tools/rigs/mosquitto.js";
import { DnsResponder, type DnsBehaviour } from "./support/dns-responder.js";
import { buildSimulatorAppFor, requireSdk, Simulator } from "../tools/rigs/mcsim.js";
import { makeTestPki, type TestPki } from "../tools/rigs/tls.js";
import { waitFor } from "../tools/rigs/wait.js";

/** Port 53 on 127.0.0.53, or on another loopback address if that one is taken (other suites run at once). */
async function dnsOnPort53(context: Mocha.Context): Promise<DnsResponder> {
	const candidates = ["127.0.0.53", ...Array.from({ length: 5 }, () => `127.53.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`)];
	for (const address of candidates) {
		try {
			return await DnsResponder.start(address, 53);
		} catch (error) {
			const code = (error as NodeJS.ErrnoException).code;
			if (code === "EACCES") {
				console.log("      (skipped: binding port 53 needs root, as CI has)");
				context.skip();
			}
			if (code !== "EADDRINUSE") throw error;
		}
	}
	throw new Error("no loopback address with port 53 free");
}

/** Waits; a timeout shows the simulator's trace as it is then, not as it was when the wait began. */
async function until(simulator: Simulator, condition: () => boolean, timeout: number, what: string): Promise<void> {
	await waitFor(condition, timeout, what).catch((error: Error) => {
		throw new Error(`${error.message}; trace:\n${simulator.trace}`);
	});
}

const common = { ssid: "sim", http_port: "0", mqtt_backoff_min: "300", mqtt_backoff_max: "1000", sensor_interval: "500" };

describe("the broker by name in mcsim (the real SDK's DNS resolver)", function () {
	this.timeout(240000);
	let moddable: string;
	let dns: DnsResponder;
	let broker: Mosquitto;
	let simulator: Simulator | undefined;
	const readings: string[] = [];
	let watcher: mqtt.MqttClient | undefined;
	const prefix = "mcsim-dns";

	const watch = async (): Promise<void> => {
		watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { reconnectPeriod: 0 });
		watcher.on("message", (_topic, payload) => readings.push(payload.toString()));
		await watcher.subscribeAsync(`${prefix}/temp`, { qos: 1 });
	};
	const alive = (): void => assert.ok(simulator!.running, `mcsim exited:\n${simulator!.trace}`);
	const errors = (): string[] => simulator!.lines.filter((line) => line.startsWith("WARN  mqtt: waiting: cannot resolve"));

	before(async function () {
		moddable = requireSdk(this);
		dns = await dnsOnPort53(this);
		broker = await Mosquitto.start();
	});

	after(async function () {
		await simulator?.kill();
		await watcher?.endAsync(true);
		await broker?.stop();
		await dns?.stop();
	});

	const build = (context: Mocha.Context, overrides: Record<string, string>): Promise<string> => buildSimulatorAppFor(context, moddable, {
		...common, mqtt_host: "broker.test", dns_servers: dns.host, mqtt_port: String(broker.port),
		mqtt_client_id: `${prefix}-device`, topic_temperature: `${prefix}/temp`, topic_status: `${prefix}/status`,
		topic_events: `${prefix}/events`, topic_led_command: `${prefix}/led`, topic_led_state: `${prefix}/led/state`, ...overrides,
	});

	it("connects by name, publishes, and keeps publishing through a broker outage, looking the name up again", async function () {
		dns.onQuery = undefined;
		dns.set("broker.test", "127.0.0.1");
		const app = await build(this, {});
		await watch();
		simulator = Simulator.start(moddable, app);
		await until(simulator, () => readings.length >= 3, 90000, "three readings by name");
		assert.ok(simulator.lines.includes("INFO  dns: broker.test is 127.0.0.1"), simulator.trace);
		assert.equal(dns.queriesFor("broker.test").length, 1, "one look-up while the connection holds");
		alive();

		// The broker goes away: once a connection to the address fails, each attempt asks for the name again.
		await watcher!.endAsync(true);
		await broker.stop();
		await until(simulator, () => dns.queriesFor("broker.test").length >= 3, 30000, "the name looked up again during the outage");
		await broker.restart();
		readings.length = 0;
		await watch();
		await until(simulator, () => readings.length >= 3, 60000, "readings after the outage");
		alive();
		await simulator.kill();
		await watcher!.endAsync(true);
	});

	it("reports each look-up failure with the name and the reason, and backs off", async function () {
		const app = await build(this, { dns_timeout: "3000" });
		// Each look-up comes from a new UDP socket: a new source port is a new attempt, and gets the next behaviour.
		const plan: { behaviour: DnsBehaviour; reason: string }[] = [
			{ behaviour: "nxdomain", reason: `no such name (NXDOMAIN from ${dns.host})` },
			{ behaviour: "nodata", reason: `${dns.host} knows the name but has no IPv4 address for it` },
			{ behaviour: "servfail", reason: `${dns.host} failed to answer (server failure) (RCODE 2)` },
			{ behaviour: "malformed", reason: `malformed reply from ${dns.host} (` },
			{ behaviour: "short", reason: `malformed reply from ${dns.host} (7 bytes, shorter than a DNS header)` },
			{ behaviour: "silent", reason: `no answer from ${dns.host} within 3000 ms` },
		];
		const ports: string[] = [];
		dns.onQuery = (query) => {
			const port = query.from.split(":")[1]!;
			if (ports.includes(port)) return;
			ports.push(port);
			dns.set("broker.test", plan[Math.min(ports.length, plan.length) - 1]!.behaviour);
		};
		simulator = Simulator.start(moddable, app);
		await until(simulator, () => errors().length >= plan.length + 1, 90000, "every failure reported");
		alive();
		const failures = errors();
		plan.forEach(({ reason }, i) => {
			assert.ok(failures[i]!.startsWith(`WARN  mqtt: waiting: cannot resolve broker.test: ${reason}`), `${failures[i]} should say ${reason}`);
			assert.match(failures[i]!, /; retrying in \d+ ms$/, "backs off");
		});
		// Backoff: the attempts are spread out, never a tight loop.
		const starts = ports.map((port) => dns.queries.find((query) => query.from.endsWith(`:${port}`))!.at);
		const gaps = starts.slice(1).map((at, i) => at - starts[i]!);
		assert.ok(gaps.every((gap) => gap >= 250), `gaps between attempts: ${gaps.map(Math.round).join(", ")}`);
	});
});

describe("TLS by name in mcsim (the real SDK's resolver and TLS socket, mosquitto mqtts)", function () {
	this.timeout(240000);
	let moddable: string;
	let pki: TestPki;
	let dns: DnsResponder;
	let broker: Mosquitto;
	let simulator: Simulator | undefined;

	before(async function () {
		moddable = requireSdk(this);
		dns = await dnsOnPort53(this);
		dns.set("broker.test", "127.0.0.1").set("other.test", "127.0.0.1");
		pki = makeTestPki(["broker.test"]);
		broker = await Mosquitto.start({ listener: [], tlsListener: { cafile: pki.caFile, certfile: pki.certFile, keyfile: pki.keyFile } });
	});

	afterEach(async function () {
		await simulator?.kill();
		simulator = undefined;
	});

	after(async function () {
		await broker?.stop();
		await dns?.stop();
		if (pki) fs.rmSync(pki.dir, { recursive: true, force: true });
	});

	const run = async (context: Mocha.Context, overrides: Record<string, string>): Promise<Simulator> => {
		const app = await buildSimulatorAppFor(context, moddable, {
			...common, dns_servers: dns.host, mqtt_port: String(broker.port), mqtt_tls: "true", mqtt_tls_ca: pki.ca.replace(/\n/g, " "),
			mqtt_client_id: "mcsim-tls-device", ...overrides,
		});
		return simulator = Simulator.start(moddable, app);
	};

	it("connects over mqtts by the name in the certificate, and readings arrive", async function () {
		const watcher = await mqtt.connectAsync(`mqtts://localhost:${broker.port}`, { ca: pki.ca, reconnectPeriod: 0 });
		const readings: string[] = [];
		watcher.on("message", (_topic, payload) => readings.push(payload.toString()));
		await watcher.subscribeAsync("mcsim-tls/temp", { qos: 1 });
		try {
			const sim = await run(this, { mqtt_host: "broker.test", topic_temperature: "mcsim-tls/temp" });
			await until(sim, () => readings.length >= 2, 90000, "readings over TLS by name");
			assert.ok(sim.lines.includes("INFO  dns: broker.test is 127.0.0.1"), sim.trace);
			assert.ok(sim.running, sim.trace);
		} finally {
			await watcher.endAsync(true);
		}
	});

	const refusals = [
		{ name: "a certificate from another CA", overrides: (): Record<string, string> => ({ mqtt_host: "broker.test", mqtt_tls_ca: pki.wrongCa.replace(/\n/g, " ") }), server: "broker.test" },
		{ name: "a name the certificate does not carry", overrides: (): Record<string, string> => ({ mqtt_host: "other.test" }), server: "other.test" },
	];
	for (const { name, overrides, server } of refusals) {
		it(`refuses ${name}: a clear error, backing off, the name asked again`, async function () {
			const asked = dns.queriesFor(server).length;
			const sim = await run(this, overrides());
			const waits = (): string[] => sim.lines.filter((line) => line.startsWith("WARN  mqtt: waiting: "));
			await until(sim, () => waits().length >= 3, 90000, "three failed attempts");
			for (const line of waits().slice(0, 3)) assert.match(line, new RegExp(`^WARN  mqtt: waiting: TLS handshake with ${server.replace(".", "\\.")} failed: .+; retrying in \\d+ ms$`));
			assert.ok(!sim.lines.some((line) => line.startsWith("INFO  mqtt: connected")), "never connected");
			assert.ok(dns.queriesFor(server).length >= asked + 3, "a failed handshake drops the address: each attempt looks the name up again");
			assert.ok(sim.running, `mcsim exited:\n${sim.trace}`);
		});
	}
});
