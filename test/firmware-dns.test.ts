/*
 * The broker by name, end to end on both host simulators (Node and the XS
 * engine): a real DNS responder on loopback (test/support/dns-responder),
 * reached only through dns_servers, and a real mosquitto. The firmware
 * connects by name and publishes; NXDOMAIN, a name without an address, a
 * server failure, malformed and truncated replies, and silence are each
 * reported with the name and the reason, and backed off; it keeps
 * publishing through a broker outage, looking the name up again after the
 * connection to the old address failed; and it connects over TLS by name.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import mqtt from "mqtt";
import { Mosquitto } from "../tools/rigs/mosquitto.js";
import { DnsResponder, type DnsBehaviour } from "./support/dns-responder.js";
import { hostKinds, runFirmware, type HostKind, type RunningFirmware } from "../tools/rigs/firmware.js";
import { makeTestPki, type TestPki } from "../tools/rigs/tls.js";
import { waitFor } from "../tools/rigs/wait.js";
import { Board, type LogRecord } from "../hosts/simulated-board/board.js";

const failures: { behaviour: DnsBehaviour; reason: RegExp }[] = [
	{ behaviour: "nxdomain", reason: /^cannot resolve fail\.test: no such name \(NXDOMAIN from 127\.0\.0\.1\)$/ },
	{ behaviour: "nodata", reason: /^cannot resolve fail\.test: 127\.0\.0\.1 knows the name but has no IPv4 address for it$/ },
	{ behaviour: "servfail", reason: /^cannot resolve fail\.test: 127\.0\.0\.1 failed to answer \(server failure\) \(RCODE 2\)$/ },
	{ behaviour: "malformed", reason: /^cannot resolve fail\.test: malformed reply from 127\.0\.0\.1 \(EBADRESP\)$/ },
	{ behaviour: "short", reason: /^cannot resolve fail\.test: malformed reply from 127\.0\.0\.1 \(EBADRESP\)$/ },
	{ behaviour: "silent", reason: /^cannot resolve fail\.test: no answer from 127\.0\.0\.1 within 400 ms$/ },
];

/** Each failed attempt, as the one line the firmware logs for it: `waiting: <reason>; retrying in N ms`, the reason as its message. */
const mqttErrors = (board: Board): LogRecord[] => board.logs.filter((record) => record.tag === "mqtt" && record.message.startsWith("waiting: "))
	.map((record) => ({ ...record, message: record.message.replace(/^waiting: /, "").replace(/; retrying in \d+ ms$/, "") }));

for (const kind of hostKinds) {
	describe(`the broker by name on the ${kind === "xs" ? "XS host simulator" : "Node host"} (DNS responder and mosquitto on loopback)`, function () {
		this.timeout(40000);
		let dns: DnsResponder;
		let broker: Mosquitto;
		let firmware: RunningFirmware | undefined;
		const prefix = `dns-${kind}`;

		const start = (overrides: Record<string, string>, board: Board): Promise<RunningFirmware> => {
			board.dnsPort = dns.port;
			return runFirmware(kind as HostKind, {
				dns_servers: "127.0.0.1", dns_timeout: "400", mqtt_port: String(broker.port), mqtt_client_id: `${prefix}-device`,
				mqtt_backoff_min: "200", mqtt_backoff_max: "400", sensor_interval: "200",
				topic_temperature: `${prefix}/temp`, topic_status: `${prefix}/status`, topic_events: `${prefix}/events`,
				topic_led_command: `${prefix}/led`, topic_led_state: `${prefix}/led/state`,
				...overrides,
			}, board);
		};

		before(async function () {
			dns = await DnsResponder.start();
			broker = await Mosquitto.start();
		});

		afterEach(async function () {
			// An orderly stop: on the Node host, closing alone would leave the firmware's timers running.
			await firmware?.shutdown();
			await firmware?.close();
			firmware = undefined;
		});

		after(async function () {
			await broker?.stop();
			await dns?.stop();
		});

		it("connects by name, through dns_servers only, publishes, and keeps publishing through a broker outage", async function () {
			dns.set("broker.test", "127.0.0.1");
			const readings: number[] = [];
			const watch = async (): Promise<mqtt.MqttClient> => {
				const watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { reconnectPeriod: 0 });
				watcher.on("message", (_topic, payload) => readings.push((JSON.parse(payload.toString()) as { seq: number }).seq));
				await watcher.subscribeAsync(`${prefix}/temp`, { qos: 1 });
				return watcher;
			};
			let watcher = await watch();
			const board = new Board();
			firmware = await start({ mqtt_host: "broker.test" }, board);
			await waitFor(() => readings.length >= 3, 15000, "three readings by name");
			assert.ok(board.logs.some((record) => record.tag === "dns" && record.message === "broker.test is 127.0.0.1"));
			assert.ok(board.logs.some((record) => record.tag === "mqtt" && record.message === "connected" && record.fields?.broker === `broker.test:${broker.port}`));
			assert.equal(dns.queriesFor("broker.test").length, 1, "one look-up while the connection holds");

			// The broker goes away for a while: each failed connection drops the address, so the name is asked again.
			await watcher.endAsync(true);
			await broker.stop();
			const lookupsBefore = dns.queriesFor("broker.test").length;
			// The first attempt goes to the address that just worked; once refused, each attempt asks again.
			await waitFor(() => dns.queriesFor("broker.test").length >= lookupsBefore + 2, 15000, "looked up again after failed connections");
			assert.ok(mqttErrors(board).length >= 3, mqttErrors(board).map((record) => record.message).join(" | "));
			await broker.restart();
			watcher = await watch();
			const seen = readings.length;
			await waitFor(() => readings.length >= seen + 3, 15000, "readings again after the outage");
			await watcher.endAsync(true);
		});

		it("reports each look-up failure with the name and the reason, backs off, and connects once the name resolves", async function () {
			const board = new Board();
			dns.set("fail.test", failures[0]!.behaviour);
			firmware = await start({ mqtt_host: "fail.test" }, board);
			for (const [index, { behaviour, reason }] of failures.entries()) {
				dns.set("fail.test", behaviour);
				// The first error after this behaviour is in place is the one it caused (one attempt may already be in flight).
				const from = mqttErrors(board).length + 1;
				await waitFor(() => mqttErrors(board).slice(from).length >= 1, 10000, `an error for ${String(behaviour)}`);
				const message = mqttErrors(board)[from]!.message;
				assert.match(message, reason, `failure ${index} (${String(behaviour)})`);
				const wait = board.logs.find((record) => record.tag === "mqtt" && record.message.startsWith(`waiting: ${message}; retrying in `));
				assert.ok(wait, `backs off after ${message}`);
			}
			// Backoff: attempts spaced by at least the floor, never a tight loop.
			const asked = dns.queriesFor("fail.test").map((query) => query.at);
			const gaps = asked.slice(1).map((at, i) => at - asked[i]!);
			assert.ok(gaps.every((gap) => gap >= 150), `gaps between look-ups: ${gaps.map(Math.round).join(", ")}`);
			assert.equal((await firmware.status())?.connects, 0);
			dns.set("fail.test", "127.0.0.1");
			await waitFor(async () => (await firmware!.status())?.mqtt === "connected", 10000, "connected once the name resolves")
				.catch((error: Error) => assert.fail(`${error.message}\n${board.logs.slice(-15).map((r) => `${r.tag}: ${r.message}`).join("\n")}`));
		});

		it("does not fall back to the computer's resolver: no dns_servers, no look-up", async function () {
			const board = new Board();
			firmware = await start({ mqtt_host: "localhost.localdomain", dns_servers: "" }, board);
			await waitFor(() => mqttErrors(board).length >= 1, 10000, "a failed attempt");
			assert.equal(mqttErrors(board)[0]!.message, "cannot resolve localhost.localdomain: no DNS server to ask: set dns_servers (the simulated network has none of its own)");
		});
	});
}

describe("TLS by name (XS host simulator, DNS responder, mosquitto mqtts)", function () {
	this.timeout(30000);
	let pki: TestPki;
	let dns: DnsResponder;
	let broker: Mosquitto;

	before(async function () {
		pki = makeTestPki(["broker.test"]);
		dns = await DnsResponder.start();
		dns.set("broker.test", "127.0.0.1");
		broker = await Mosquitto.start({ listener: [], tlsListener: { cafile: pki.caFile, certfile: pki.certFile, keyfile: pki.keyFile } });
	});

	after(async function () {
		await broker?.stop();
		await dns?.stop();
		if (pki) fs.rmSync(pki.dir, { recursive: true, force: true });
	});

	it("resolves the name, connects to the address, and verifies the certificate against the name", async function () {
		const board = new Board();
		board.dnsPort = dns.port;
		const firmware = await runFirmware("xs", {
			mqtt_host: "broker.test", dns_servers: "127.0.0.1", mqtt_port: String(broker.port), mqtt_tls: "true", mqtt_tls_ca: pki.ca,
			mqtt_backoff_min: "200", mqtt_backoff_max: "400",
		}, board);
		try {
			await waitFor(async () => (await firmware.status())?.mqtt === "connected", 15000, "connected over TLS by name");
			assert.ok(board.logs.some((record) => record.tag === "dns" && record.message === "broker.test is 127.0.0.1"));
		} finally {
			await firmware.shutdown();
			await firmware.close();
		}
	});
});
