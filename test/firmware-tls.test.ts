/*
 * The firmware on the XS host simulator over mqtts to a real mosquitto: a
 * test CA and broker certificate made with openssl at test time, and a
 * user name and password from a mosquitto password file. The server
 * certificate is verified: a wrong CA or a wrong name fails with a clear
 * error and backs off. Credentials never appear in the logs.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import mqtt from "mqtt";
import { Mosquitto } from "../tools/rigs/mosquitto.js";
import { runFirmware, type RunningFirmware } from "../tools/rigs/firmware.js";
import { makeTestPki, passwordFile, type TestPki } from "../tools/rigs/tls.js";
import { waitFor } from "../tools/rigs/wait.js";
import { Board } from "../hosts/simulated-board/board.js";

const user = "room1-device";
const password = "s3cret-Pa55word";

describe("TLS and authentication end to end (XS host simulator, mosquitto)", function () {
	this.timeout(30000);
	let pki: TestPki;
	let broker: Mosquitto;

	before(async function () {
		pki = makeTestPki();
		const passwords = passwordFile(pki.dir, user, password);
		broker = await Mosquitto.start({
			listener: [],
			config: [
				"allow_anonymous false",
				`password_file ${passwords}`,
			],
			tlsListener: { cafile: pki.caFile, certfile: pki.certFile, keyfile: pki.keyFile },
		});
	});

	after(async function () {
		await broker?.stop();
		if (pki) fs.rmSync(pki.dir, { recursive: true, force: true });
	});

	function start(overrides: Record<string, string>, board = new Board()): Promise<RunningFirmware> {
		return runFirmware("xs", {
			mqtt_port: String(broker.port), mqtt_tls: "true", mqtt_tls_ca: pki.ca, mqtt_tls_server_name: "localhost",
			mqtt_username: user, mqtt_password: password, mqtt_backoff_min: "200", mqtt_backoff_max: "1500", sensor_interval: "200",
			...overrides,
		}, board);
	}

	const lines = (board: Board): string[] => board.logs.map((record) => `${record.level} ${record.tag}: ${record.message} ${JSON.stringify(record.fields ?? {})}`);

	it("connects over mqtts with user name and password, and readings reach a TLS subscriber", async function () {
		const watcher = await mqtt.connectAsync(`mqtts://localhost:${broker.port}`, { ca: pki.ca, username: user, password, reconnectPeriod: 0 });
		const readings: string[] = [];
		watcher.on("message", (topic, payload) => readings.push(payload.toString()));
		await watcher.subscribeAsync("sensors/room1/temp", { qos: 1 });
		const board = new Board();
		const firmware = await start({}, board);
		try {
			await waitFor(() => readings.length >= 3, 15000, "three readings over TLS");
			assert.match(JSON.parse(readings[0]!).unit as string, /°C/);
			const log = lines(board);
			assert.ok(log.some((line) => /mqtt: connected/.test(line) && line.includes(`"broker":"127.0.0.1:${broker.port}"`)), log.join("\n"));
			assert.ok(log.some((line) => line.includes("mqtts://")), "the start-up line names mqtts");
			assert.ok(!log.some((line) => line.includes(password)), "the password never appears in a log line");
		} finally {
			await firmware.close();
			await watcher.endAsync(true);
		}
	});

	const refusals: { name: string; overrides: (pki: TestPki) => Record<string, string>; reason: RegExp }[] = [
		{ name: "a broker certificate from another CA", overrides: (pki) => ({ mqtt_tls_ca: pki.wrongCa }), reason: /^waiting: TLS handshake with localhost failed: (unable to verify the first certificate|self-signed certificate in certificate chain); retrying in \d+ ms$/ },
		{ name: "a name the certificate does not carry", overrides: () => ({ mqtt_tls_server_name: "broker.example" }), reason: /^waiting: TLS handshake with broker\.example failed: Hostname\/IP does not match certificate's altnames/ },
	];
	for (const { name, overrides, reason } of refusals) {
		it(`refuses ${name} with a clear error, and backs off`, async function () {
			const board = new Board();
			const firmware = await start(overrides(pki), board);
			try {
				await waitFor(() => board.logs.filter((r) => r.tag === "mqtt" && r.message.startsWith("waiting:")).length >= 3, 15000, "three failed attempts");
				const waits = board.logs.filter((r) => r.tag === "mqtt" && r.message.startsWith("waiting:"));
				assert.match(waits[0]!.message, reason);
				assert.equal((await firmware.status())?.connects, 0);
				// Backing off: each attempt waits at least the delay the one before announced, not a tight loop.
				const delays = waits.map((record) => Number(/retrying in (\d+) ms/.exec(record.message)?.[1]));
				assert.ok(delays.every((delay) => delay >= 200 && delay <= 1500), `delays within mqtt_backoff_min..max: ${delays.join()}`);
				const gaps = waits.slice(1).map((record, i) => record.at - waits[i]!.at);
				assert.ok(gaps.every((gap, i) => gap >= delays[i]! - 5), `gaps ${gaps.join()} after delays ${delays.join()}`);
				assert.ok(!lines(board).some((line) => line.includes(password)), "the password never appears in a log line");
			} finally {
				await firmware.close();
			}
		});
	}

	it("a wrong password is refused by the broker and waits the maximum backoff", async function () {
		const board = new Board();
		const firmware = await start({ mqtt_password: "not-the-password" }, board);
		try {
			await waitFor(() => board.logs.some((r) => r.tag === "mqtt" && r.message.startsWith("waiting:")), 15000, "a refusal");
			const refusal = board.logs.find((r) => r.tag === "mqtt" && r.message.startsWith("waiting:"))!;
			assert.match(refusal.message, /broker refused the connection: (bad user name or password \(4\)|not authorized \(5\)); retrying in 1500 ms/);
			assert.ok(!lines(board).some((line) => line.includes("not-the-password")), "the password never appears in a log line");
		} finally {
			await firmware.close();
		}
	});
});
