/*
 * The web API over real loopback sockets, on the Node host and on the XS
 * host simulator, against mosquitto: every route, every refusal, HTTP Basic,
 * stored settings across a restart of the simulator, factory reset. The
 * same scenarios run on a virtual clock in test/portable/web.ts; this proves
 * the hosts' listeners and the wire.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import mqtt from "mqtt";
import { Mosquitto } from "../tools/rigs/mosquitto.js";
import { hostKinds } from "../tools/rigs/firmware.js";
import { runDevice, type RunningDevice } from "./support/device.js";
import { waitFor } from "../tools/rigs/wait.js";
import { pathToFileURL } from "node:url";
import { projectRoot } from "../hosts/xsnap/paths.js";

const { buildPage } = await import(pathToFileURL(path.join(projectRoot, "scripts", "build-page.mjs")).href) as { buildPage(): { html: string; gzip: Buffer } };

/** Sends `text` as it is and returns the whole response (the server closes after one). */
function raw(url: string, text: string | Buffer): Promise<string> {
	const { port } = new URL(url);
	return new Promise((resolve, reject) => {
		const socket = net.connect(Number(port), "127.0.0.1");
		const chunks: Buffer[] = [];
		socket.on("data", (chunk: Buffer) => chunks.push(chunk));
		socket.on("error", reject);
		socket.on("close", () => resolve(Buffer.concat(chunks).toString("latin1")));
		socket.write(text);
	});
}

const json = { "Content-Type": "application/json" };

describe("the page's source", function () {
	it("modules/web/page.ts is page.html, minified and gzipped (run node scripts/build-page.mjs after editing)", function () {
		const { html } = buildPage();
		const source = fs.readFileSync(path.join(projectRoot, "modules", "web", "page.ts"), "utf8");
		const base64 = /pageGzipBase64 = "([^"]+)"/.exec(source)![1]!;
		assert.equal(zlib.gunzipSync(Buffer.from(base64, "base64")).toString(), html);
	});
});

for (const kind of hostKinds) {
	describe(`web API on the ${kind === "xs" ? "XS host simulator" : "Node host"} over loopback`, function () {
		this.timeout(30000);
		let broker: Mosquitto;
		let device: RunningDevice;
		let watcher: mqtt.MqttClient;
		let flashDir: string;
		const prefix = `web-${kind}`;
		const states: string[] = [];
		const overrides = (): Record<string, string> => ({
			mqtt_port: String(broker.port), mqtt_client_id: `${prefix}-device`, sensor_interval: "300",
			topic_temperature: `${prefix}/temp`, topic_status: `${prefix}/status`, topic_events: `${prefix}/events`,
			topic_led_command: `${prefix}/led`, topic_led_state: `${prefix}/led/state`,
		});

		before(async function () {
			broker = await Mosquitto.start();
			flashDir = fs.mkdtempSync(path.join(os.tmpdir(), "room1-flash-"));
			watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: `${prefix}-watcher`, reconnectPeriod: 0 });
			watcher.on("message", (topic, payload) => {
				if (topic === `${prefix}/led/state`) states.push(payload.toString());
			});
			await watcher.subscribeAsync(`${prefix}/led/state`, { qos: 1 });
			device = await runDevice(kind, overrides(), path.join(flashDir, "flash.json"));
		});

		after(async function () {
			await device?.stop();
			await watcher?.endAsync(true);
			await broker?.stop();
			fs.rmSync(flashDir, { recursive: true, force: true });
		});

		it("GET / serves the page, gzipped, that the browser decompresses", async function () {
			const response = await fetch(`${device.url}/`);
			assert.equal(response.status, 200);
			assert.equal(response.headers.get("content-encoding"), "gzip");
			const text = await response.text();
			assert.equal(text, buildPage().html);
		});

		it("GET /api/status shows a reading and MQTT connected", async function () {
			await waitFor(async () => {
				const status = await (await fetch(`${device.url}/api/status`)).json() as Record<string, unknown>;
				return status.mqtt === "connected" && typeof status.temperature === "number";
			}, 10000);
		});

		it("POST /api/led switches the LED; mosquitto sees the state topic change", async function () {
			const response = await fetch(`${device.url}/api/led`, { method: "POST", headers: json, body: JSON.stringify({ on: true }) });
			assert.deepEqual(await response.json(), { led: "on" });
			await waitFor(() => states[states.length - 1] === "on", 5000, "state on");
			await fetch(`${device.url}/api/led`, { method: "POST", headers: json, body: JSON.stringify({ state: "toggle" }) });
			await waitFor(() => states[states.length - 1] === "off", 5000, "state off");
		});

		it("refuses bad requests with a 4xx and a reason, and keeps serving", async function () {
			const cases: [string, number][] = [
				["GET /missing HTTP/1.1\r\n\r\n", 404],
				["PUT /api/led HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405],
				["POST /api/led HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\non", 415],
				["POST /api/led HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n{\"on\"", 400],
				["POST /api/led HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 99999\r\n\r\n", 413],
				[`GET / HTTP/1.1\r\nCookie: ${"x".repeat(3000)}\r\n\r\n`, 431],
				["BREW /pot HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411],
				["GET / HTTP/3\r\n\r\n", 505],
				["nonsense\r\n\r\n", 400],
			];
			for (const [request, status] of cases) {
				const response = await raw(device.url, request);
				assert.match(response, new RegExp(`^HTTP/1\\.1 ${status} `), `${JSON.stringify(request.slice(0, 30))} -> ${response.slice(0, 80)}`);
				assert.match(response, /\{"error":"[^"]{6,}/);
			}
			assert.equal((await fetch(`${device.url}/api/status`)).status, 200);
		});

		it("POST /api/update: this host has no embedded:update and says so (501); the status shows no update", async function () {
			const image = Buffer.alloc(256, 0xe9);
			const response = await raw(device.url, Buffer.concat([Buffer.from(`POST /api/update HTTP/1.1\r\nContent-Type: application/octet-stream\r\nContent-Length: ${image.length}\r\n\r\n`), image]));
			assert.match(response, /^HTTP\/1\.1 501 /);
			assert.match(response, /cannot update its firmware over the network: OTA needs embedded:update \(ESP32\)/);
			const status = await (await fetch(`${device.url}/api/status`)).json() as Record<string, unknown>;
			assert.equal(status.update, null);
			assert.match(await raw(device.url, "POST /api/update HTTP/1.1\r\nContent-Type: application/octet-stream\r\n\r\n"), /^HTTP\/1\.1 411 /);
		});

		it("settings: invalid values are refused by field; a valid one is stored, applied, and survives a restart", async function () {
			const invalid = await fetch(`${device.url}/api/settings`, { method: "POST", headers: json, body: JSON.stringify({ sensor_interval: "5", mqtt_port: "x" }) });
			assert.equal(invalid.status, 422);
			const errors = (await invalid.json() as { errors: Record<string, string> }).errors;
			assert.deepEqual(Object.keys(errors).sort(), ["mqtt_port", "sensor_interval"]);
			const valid = await fetch(`${device.url}/api/settings`, { method: "POST", headers: json, body: JSON.stringify({ device_name: "Kitchen", mqtt_password: "pw", mqtt_username: "u" }) });
			assert.equal(valid.status, 200);
			await device.stop();
			device = await runDevice(kind, overrides(), path.join(flashDir, "flash.json"));
			const settings = await (await fetch(`${device.url}/api/settings`)).json() as { values: { key: string; value: string; source: string }[] };
			const name = settings.values.find((view) => view.key === "device_name")!;
			assert.deepEqual([name.value, name.source], ["Kitchen", "stored"]);
			assert.equal(settings.values.find((view) => view.key === "mqtt_password")!.value, "set");
			assert.ok(!JSON.stringify(settings).includes('"pw"'));
			const status = await (await fetch(`${device.url}/api/status`)).json() as Record<string, unknown>;
			assert.equal(status.name, "Kitchen");
		});

		it("factory reset forgets the stored settings", async function () {
			const reset = await fetch(`${device.url}/api/settings/reset`, { method: "POST", headers: json, body: "{}" });
			assert.equal(reset.status, 200);
			const settings = await (await fetch(`${device.url}/api/settings`)).json() as { values: { key: string; source: string }[] };
			assert.equal(settings.values.find((view) => view.key === "device_name")!.source, "build");
			assert.equal(fs.existsSync(path.join(flashDir, "flash.json")), false);
		});

		it("hostile JSON: 4,000 nested [ and 800 nested {\"a\": are refused 400; __proto__ and constructor 422 by name; nothing saved", async function () {
			for (const body of ["[".repeat(4000), '{"a":'.repeat(800)]) {
				for (const route of ["/api/led", "/api/settings"]) {
					const response = await fetch(`${device.url}${route}`, { method: "POST", headers: json, body });
					assert.equal(response.status, 400);
					assert.match((await response.json() as { error: string }).error, /nests deeper than \d+ levels/);
				}
			}
			for (const key of ["__proto__", "constructor"]) {
				const response = await fetch(`${device.url}/api/settings`, { method: "POST", headers: json, body: `{${JSON.stringify(key)}:"x"}` });
				assert.equal(response.status, 422);
				assert.deepEqual((await response.json() as { errors: Record<string, string> }).errors, { [key]: `${key} is not a setting` });
			}
			const rebound = await raw(device.url, 'POST /api/led HTTP/1.1\r\nHost: evil.example\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"on":true}');
			assert.match(rebound, /^HTTP\/1\.1 403 [^]*DNS rebinding/);
			const empty = await fetch(`${device.url}/api/settings`, { method: "POST", headers: json, body: "{}" });
			assert.deepEqual(await empty.json(), { saved: true, restarting: [] });
			assert.equal((await fetch(`${device.url}/api/status`)).status, 200);
		});

		it("8 parallel clients all get answers, round after round; none is dropped", async function () {
			const rounds = 10;
			const answers = await Promise.all(Array.from({ length: 8 }, async () => {
				const statuses: string[] = [];
				for (let round = 0; round < rounds; round++) {
					const response = await raw(device.url, "GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
					statuses.push(response.slice(0, 12));
				}
				return statuses;
			}));
			assert.deepEqual(answers.flat(), Array.from({ length: 8 * rounds }, () => "HTTP/1.1 200"));
		});

		it("sockets closed by the client, before or during a request, are closed by the server: open sockets return to none", async function () {
			const listener = [...device.board.listeners][0]!;
			const { port } = new URL(device.url);
			for (let round = 0; round < 10; round++) {
				await Promise.all(Array.from({ length: 4 }, (_, i) => new Promise<void>((resolve) => {
					const socket = net.connect(Number(port), "127.0.0.1", () => {
						if (i % 2) socket.write("GET /api/sta");
						setTimeout(() => socket.destroy(), 5);
					});
					socket.on("error", () => {});
					socket.on("close", () => resolve());
				})));
			}
			await waitFor(() => listener.open === 0, 5000, "every accepted socket closed by its owner");
			assert.equal((await fetch(`${device.url}/api/status`)).status, 200);
		});

		it("with http_password, a change needs it (HTTP Basic)", async function () {
			await device.stop();
			device = await runDevice(kind, { ...overrides(), http_password: "open sesame" }, path.join(flashDir, "flash.json"));
			const denied = await fetch(`${device.url}/api/led`, { method: "POST", headers: json, body: JSON.stringify({ on: true }) });
			assert.equal(denied.status, 401);
			assert.match(denied.headers.get("www-authenticate") ?? "", /^Basic realm=/);
			const authorization = `Basic ${Buffer.from("admin:open sesame").toString("base64")}`;
			const allowed = await fetch(`${device.url}/api/led`, { method: "POST", headers: { ...json, Authorization: authorization }, body: JSON.stringify({ on: true }) });
			assert.equal(allowed.status, 200);
		});
	});
}
