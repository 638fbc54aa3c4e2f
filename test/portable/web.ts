/*
 * The web page's server and API on a virtual clock, on Node and on XS: the
 * HTTP parser's limits, every route and every refusal, HTTP Basic, stored
 * settings with their precedence, factory reset, and the bounds that keep a
 * slow or abusive client from starving MQTT and readings.
 */
import { defineSuite } from "test/lib/suite";
import * as assert from "test/lib/assert";
import { WebHost, withoutProtoAccessor, writableBudget } from "test/lib/fake-web";
import { HttpConnection, defaultLimits, maxSlice, type HttpRejection, type HttpRequest } from "web/http";
import { maxJsonDepth, nestsDeeperThan, parseJson } from "web/json";
import { startDevice, type Device } from "firmware/device";
import { base64Length, base64Slice, decodeBase64 } from "web/base64";
import { route, type DeviceApi } from "web/api";
import { pageGzipBase64, pageHtml } from "web/page";
import { editableKeys } from "web/settings";
import { configKeys } from "config";
import { decodeUtf8, decodeUtf8With, encodeUtf8, writeUtf8, type Utf8Cursor } from "utf8";
import { defaultMaxConnections, defaultMaxWaiting, readSize } from "web/server";

const ascii = (value: string): Uint8Array => Uint8Array.from(value, (c) => c.charCodeAt(0));
const build = { ssid: "home", sensor: "simulated", sensor_interval: "1000", mqtt_backoff_min: "500", mqtt_backoff_max: "4000" };

function boot(overrides: Record<string, string> = {}, prepare?: (host: WebHost) => void): { host: WebHost; device: Device } {
	const host = new WebHost();
	prepare?.(host);
	const device = startDevice(host, { ...build, ...overrides });
	host.virtual.advance(300);
	return { host, device };
}

function basic(password: string, user = "admin"): Record<string, string> {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const bytes = ascii(`${user}:${password}`);
	let out = "";
	for (let i = 0; i < bytes.length; i += 3) {
		const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
		out += alphabet[(n >> 18) & 63]! + alphabet[(n >> 12) & 63]! + (i + 1 < bytes.length ? alphabet[(n >> 6) & 63]! : "=") + (i + 2 < bytes.length ? alphabet[n & 63]! : "=");
	}
	return { Authorization: `Basic ${out}` };
}

function parse(input: string | Uint8Array, limits = defaultLimits): HttpRequest | HttpRejection | undefined {
	const http = new HttpConnection(0, limits);
	http.receive(typeof input === "string" ? ascii(input) : input);
	return http.pollRequest();
}

function rejection(input: string): HttpRejection {
	const result = parse(input);
	assert.ok(result && "reason" in result, `expected a rejection for ${JSON.stringify(input.slice(0, 40))}`);
	return result;
}

/** A setting as GET /api/settings shows it, read from the document the API sends. */
function setting(device: Device, key: string): { value: string; source: string } {
	const document = device.settings.document();
	let text = "";
	for (let i = 0; i < document.count; i++) text += document.part(i);
	return (JSON.parse(text) as { values: { key: string; value: string; source: string }[] }).values.find((view) => view.key === key)!;
}

export const suite = defineSuite("web server and API", withoutProtoAccessor({
	"http: a request split at every byte arrives whole"() {
		const raw = "POST /api/led?x=1 HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"on\":true}";
		const http = new HttpConnection(0);
		for (let i = 0; i < raw.length; i++) {
			assert.equal(http.pollRequest(), undefined);
			http.receive(ascii(raw[i]!));
		}
		const request = http.pollRequest() as HttpRequest;
		assert.equal(request.method, "POST");
		assert.equal(request.path, "/api/led");
		assert.equal(request.query, "x=1");
		assert.equal(request.headers["content-type"], "application/json");
		assert.equal(String.fromCharCode(...request.body), '{"on":true}');
	},

	"http: each malformed or oversized request is refused with its reason"() {
		assert.equal(rejection("GET /\r\n\r\n").status, 400);
		assert.equal(rejection("get / HTTP/1.1\r\n\r\n").reason, "malformed method");
		assert.equal(rejection("GET http://x/ HTTP/1.1\r\n\r\n").status, 400);
		assert.equal(rejection("GET / HTTP/2.0\r\n\r\n").status, 505);
		assert.equal(rejection("GET / HTTP/1.1\r\nno colon\r\n\r\n").status, 400);
		assert.equal(rejection("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").status, 411);
		assert.equal(rejection("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n").reason, "malformed Content-Length");
		assert.equal(rejection(`POST / HTTP/1.1\r\nContent-Length: ${defaultLimits.maxBody + 1}\r\n\r\n`).status, 413);
		assert.equal(rejection(`GET / HTTP/1.1\r\nX: ${"a".repeat(defaultLimits.maxHead)}\r\n\r\n`).status, 431);
		// Too long even before the blank line arrives: refused without storing more.
		assert.equal(rejection(`GET / HTTP/1.1\r\nX: ${"a".repeat(defaultLimits.maxHead + 10)}`).status, 431);
		const invalid = parse(new Uint8Array([0x47, 0x45, 0x54, 0x20, 0x2f, 0xff, 0x20, 0x48, 0x0d, 0x0a, 0x0d, 0x0a])) as HttpRejection;
		assert.equal(invalid.status, 400);
	},

	"http: an incomplete request is answered 408 at its deadline, not before"() {
		const http = new HttpConnection(1000);
		http.receive(ascii("GET / HTTP/1.1\r\n"));
		assert.equal(http.pollTimeout(), 1000 + defaultLimits.requestTimeout);
		http.handleTimeout(1000 + defaultLimits.requestTimeout - 1);
		assert.equal(http.pollRequest(), undefined);
		http.handleTimeout(1000 + defaultLimits.requestTimeout);
		assert.equal((http.pollRequest() as HttpRejection).status, 408);
		const bytes = http.pollTransmit(100000)!;
		assert.ok(String.fromCharCode(...bytes).startsWith("HTTP/1.1 408 Request Timeout\r\n"));
	},

	"http: a response is handed out within the budget asked for"() {
		const http = new HttpConnection(0);
		http.receive(ascii("GET / HTTP/1.1\r\n\r\n"));
		http.pollRequest();
		http.respond({ status: 200, body: new Uint8Array(5000).fill(65) });
		let total = 0;
		for (let chunk = http.pollTransmit(1536); chunk; chunk = http.pollTransmit(1536)) {
			assert.ok(chunk.length <= 1536);
			total += chunk.length;
		}
		assert.ok(http.done);
		assert.ok(total > 5000);
	},

	"page: GET / serves the compressed page in writes within the socket's budget"() {
		const { host } = boot();
		const client = host.request("GET", "/", undefined, { "Accept-Encoding": "gzip, deflate" });
		assert.equal(client.status, 200);
		assert.equal(client.header("content-encoding"), "gzip");
		assert.equal(client.header("content-type"), "text/html; charset=utf-8");
		const page = decodeBase64(pageGzipBase64);
		assert.equal(client.header("content-length"), String(page.length));
		const bytes = client.bytes;
		const body = bytes.subarray(bytes.length - page.length);
		assert.equal(body[0], 0x1f);
		assert.equal(body[1], 0x8b);
		assert.deepEqual([...body], [...page]);
		assert.equal(client.overruns, 0);
		assert.ok(client.closed, "closed after the response");
		assert.ok(page.length > writableBudget, "the page needs several writes");
	},

	"page: made a slice of at most maxSlice bytes at a time, never copied whole, even when the socket would take more"() {
		for (const [encoding, expected] of [["gzip", decodeBase64(pageGzipBase64)], ["identity", ascii(pageHtml)]] as const) {
			const response = route({ method: "GET", path: "/", query: "", headers: { "accept-encoding": encoding }, body: new Uint8Array(0) }, {} as DeviceApi);
			assert.ok(response.body !== undefined && typeof response.body !== "string" && !(response.body instanceof Uint8Array), "a source, not the page's bytes");
			const http = new HttpConnection(0);
			http.receive(ascii("GET / HTTP/1.1\r\n\r\n"));
			http.pollRequest();
			http.respond(response);
			const head = http.pollTransmit(16384)!;
			assert.ok(String.fromCharCode(...head).endsWith(`Content-Length: ${expected.length}\r\nConnection: close\r\n\r\n`));
			const body: number[] = [];
			let slices = 0;
			for (let chunk = http.pollTransmit(16384); chunk; chunk = http.pollTransmit(16384)) {
				assert.ok(chunk.length <= maxSlice, `a slice of ${chunk.length} bytes`);
				body.push(...chunk);
				slices++;
			}
			assert.ok(http.done);
			assert.equal(slices, Math.ceil(expected.length / maxSlice));
			assert.deepEqual(body, [...expected]);
		}
	},

	"base64: any slice of the decoded bytes, from any offset, without decoding the rest"() {
		const whole = decodeBase64(pageGzipBase64);
		assert.equal(base64Length(pageGzipBase64), whole.length);
		for (const text of ["", "QQ==", "QUI=", "QUJD", "QUJDRA=="]) assert.equal(base64Length(text), decodeBase64(text).length, text);
		for (let start = 0; start < 12; start++) {
			for (const end of [start, start + 1, start + 2, start + 3, start + 7, start + 1000, whole.length]) {
				if (end < start) continue;
				assert.deepEqual([...base64Slice(pageGzipBase64, start, end)], [...whole.subarray(start, end)], `${start}..${end}`);
			}
		}
		assert.deepEqual([...base64Slice(pageGzipBase64, whole.length - 5, whole.length)], [...whole.subarray(whole.length - 5)]);
		assert.deepEqual([...base64Slice("QUJDRA==", 2, 4)], [67, 68]);
	},

	"page: a client that takes no gzip gets the same page uncompressed; it carries its icon inline (no /favicon.ico)"() {
		const { host } = boot();
		for (const headers of [{}, { "Accept-Encoding": "identity" }, { "Accept-Encoding": "br, deflate" }] as Record<string, string>[]) {
			const client = host.request("GET", "/", undefined, headers);
			assert.equal(client.status, 200);
			assert.equal(client.header("content-encoding"), undefined);
			assert.equal(client.header("vary"), "Accept-Encoding");
			assert.equal(client.header("content-length"), String(pageHtml.length));
			assert.ok(client.response.endsWith(pageHtml), "the body is the page");
			assert.equal(client.overruns, 0);
		}
		assert.ok(/^<!doctype html>/i.test(pageHtml));
		assert.ok(/<link rel="icon" href="data:image\/svg\+xml,/.test(pageHtml), "an inline icon, so browsers ask for no /favicon.ico");
		for (let i = 0; i < pageHtml.length; i++) assert.ok(pageHtml.charCodeAt(i) < 0x80, "ASCII: one byte a character");
	},

	"the page and MQTT agree: the LED takes MQTT's grammar and is counted; the reading at its precision; humidity; recent readings for the chart"() {
		const { host } = boot({ sensor_precision: "2" }, (h) => {
			h.temperature = 23.0712;
			h.humidity = 41.26;
		});
		for (const [body, expected] of [[{ state: "ON" }, "on"], [{ state: "off" }, "off"], [{ state: true }, "on"], ["OFF", "off"], [{ state: "Toggle" }, "on"], [{ on: false }, "off"]] as [unknown, string][]) {
			const client = host.request("POST", "/api/led", body);
			assert.equal(client.status, 200, JSON.stringify(body));
			assert.deepEqual(client.json, { led: expected }, JSON.stringify(body));
		}
		const refused = host.request("POST", "/api/led", { state: "blink" });
		assert.equal(refused.status, 422);
		assert.ok(/"state".*\{"state":"ON"\}/.test(refused.json.error as string), refused.json.error as string);
		const status = host.request("GET", "/api/status").json;
		assert.equal(status.ledCommands, 6, "every change made from the page is counted, as MQTT's are");
		assert.equal(status.temperature, 23.07);
		assert.equal(status.precision, 2);
		assert.equal(status.humidity, 41.3);
		assert.equal(host.broker.publishedTo("sensors/room1/temp").map((p) => JSON.parse(p) as { temperature: number }).pop()!.temperature, 23.07, "as MQTT says");
		// The chart starts from the readings the device keeps: at most 32, oldest first.
		let next = 20;
		host.temperature = () => (next += 0.25);
		host.virtual.advance(40000);
		const readings = host.request("GET", "/api/readings").json as { temperatures: number[]; recorded: number; interval: number; precision: number };
		assert.equal(readings.temperatures.length, 32);
		assert.equal(readings.interval, 1000);
		assert.equal(readings.precision, 2);
		assert.equal(readings.recorded, host.request("GET", "/api/status").json.recorded);
		assert.equal(readings.temperatures[31], next);
		for (let i = 1; i < 32; i++) assert.equal(readings.temperatures[i]! - readings.temperatures[i - 1]!, 0.25);
	},

	"status: live readings, LED, Wi-Fi and MQTT state and diagnostics"() {
		const { host } = boot({}, (h) => (h.platform = { freeHeap: 81234, slotsUsed: 20000, chunksUsed: 9000, rssi: -61, ip: "192.168.1.40", resetReason: "Power-On" }));
		host.virtual.advance(3000);
		const client = host.request("GET", "/api/status");
		assert.equal(client.status, 200);
		const status = client.json;
		assert.equal(status.temperature, 21.5);
		assert.equal(status.wifi, "connected");
		assert.equal(status.mqtt, "connected");
		assert.equal(status.led, "off");
		assert.equal(status.passwordSet, false);
		assert.ok((status.readings as number) >= 3);
		assert.ok((status.uptime as number) >= 3000);
		assert.equal(typeof status.reconnects, "number");
		assert.deepEqual([status.heapFree, status.xsHeapUsed, status.rssi, status.ip, status.resetReason], [81234, 29000, -61, "192.168.1.40", "Power-On"]);
		const bare = boot();
		assert.deepEqual([bare.host.request("GET", "/api/status").json.heapFree, bare.host.request("GET", "/api/status").json.ip], [null, null]);
		const head = host.request("HEAD", "/api/status");
		assert.equal(head.status, 200);
		assert.ok(head.response.endsWith("\r\n\r\n"), "HEAD has no body");
	},

	"led: POST /api/led drives the pin and publishes the state"() {
		const { host } = boot();
		const on = host.request("POST", "/api/led", { on: true });
		assert.equal(on.status, 200);
		assert.deepEqual(on.json, { led: "on" });
		assert.equal(host.ledLevels[host.ledLevels.length - 1], 1);
		assert.equal(host.broker.publishedTo("control/room1/led/state").pop(), "on");
		assert.deepEqual(host.request("POST", "/api/led", { state: "toggle" }).json, { led: "off" });
		assert.equal(host.broker.publishedTo("control/room1/led/state").pop(), "off");
	},

	"errors: every bad request is a 4xx with a reason and changes nothing"() {
		const { host, device } = boot();
		host.request("POST", "/api/led", { on: true });
		const before = host.broker.publishedTo("sensors/room1/temp").length;
		const cases: [number, () => ReturnType<WebHost["request"]>][] = [
			[404, () => host.request("GET", "/nope")],
			[404, () => host.request("GET", "/constructor")],
			[405, () => host.request("DELETE", "/api/led")],
			[405, () => host.request("POST", "/api/status", {})],
			[415, () => host.request("POST", "/api/led", "on", { "Content-Type": "text/plain" })],
			[400, () => host.request("POST", "/api/led", '{"on":tru')],
			[422, () => host.request("POST", "/api/led", { on: "yes" })],
			[422, () => host.request("POST", "/api/led", [1])],
			[400, () => host.request("POST", "/api/settings", "{")],
			[422, () => host.request("POST", "/api/settings", ["ssid"])],
			[413, () => host.request("POST", "/api/settings", { ssid: "x".repeat(5000) })],
		];
		for (const [status, send] of cases) {
			const client = send();
			assert.equal(client.status, status, client.response);
			assert.equal(typeof client.json.error, "string");
			assert.ok((client.json.error as string).length > 5);
		}
		assert.equal(host.request("DELETE", "/api/led").header("allow"), "POST");
		assert.equal(device.firmware.status().led, "on");
		assert.equal(host.settings.saves, 0);
		host.virtual.advance(3000);
		assert.ok(host.broker.publishedTo("sensors/room1/temp").length >= before + 2, "readings went on");
	},

	"security: with http_password, changes and settings need it; the page's status does not"() {
		const { host, device } = boot({ http_password: "s3cret" });
		const denied = host.request("POST", "/api/led", { on: true });
		assert.equal(denied.status, 401);
		assert.equal(denied.header("www-authenticate"), 'Basic realm="room1", charset="UTF-8"');
		assert.equal(host.request("POST", "/api/led", { on: true }, basic("wrong")).status, 401);
		assert.equal(host.request("POST", "/api/led", { on: true }, basic("s3cret", "")).status, 200);
		assert.equal(host.request("POST", "/api/led", { on: true }, { Authorization: "Bearer s3cret" }).status, 401);
		assert.equal(host.request("GET", "/api/settings").status, 401);
		assert.equal(host.request("POST", "/api/settings/reset", {}).status, 401);
		assert.equal(host.request("GET", "/api/settings", undefined, basic("s3cret")).status, 200);
		const status = host.request("GET", "/api/status");
		assert.equal(status.status, 200);
		assert.equal(status.json.passwordSet, true);
		assert.equal(device.firmware.status().led, "on");
	},

	"settings: values, their source and secrets shown only as set or not set"() {
		const { host } = boot({ mqtt_username: "device", mqtt_password: "hunter2", mqtt_port: "1884" }, (h) => h.settings.save(JSON.stringify({ sensor_interval: "2000", password: "wifi-pass" })));
		const client = host.request("GET", "/api/settings");
		assert.equal(client.status, 200);
		assert.ok(!client.response.includes("hunter2") && !client.response.includes("wifi-pass"), "no secret is sent");
		const values = client.json.values as { key: string; value: string; source: string }[];
		const find = (key: string) => values.find((view) => view.key === key)!;
		assert.deepEqual([find("sensor_interval").value, find("sensor_interval").source], ["2000", "stored"]);
		assert.deepEqual([find("mqtt_port").value, find("mqtt_port").source], ["1884", "build"]);
		assert.deepEqual([find("topic_temperature").value, find("topic_temperature").source], ["sensors/room1/temp", "default"]);
		assert.deepEqual([find("mqtt_password").value, find("password").value, find("http_password").value], ["set", "set", "not set"]);
		assert.deepEqual(values.map((view) => view.key), editableKeys as string[]);
		assert.equal(client.json.persistent, true);
	},

	"settings: an invalid change is refused field by field with config.ts's own rules; nothing is stored"() {
		const { host, device } = boot();
		const client = host.request("POST", "/api/settings", { mqtt_port: "99999", sensor_interval: "5", topic_led_state: "control/room1/led", topic_led_command: "control/room1/led", ha_discovery: "true", nonsense: "1" });
		assert.equal(client.status, 422);
		const errors = client.json.errors as Record<string, string>;
		assert.deepEqual(Object.keys(errors).sort(), ["ha_discovery", "nonsense"]);
		assert.ok(/cannot be changed/.test(errors.ha_discovery!));
		const second = host.request("POST", "/api/settings", { mqtt_port: "99999", sensor_interval: "5" }).json.errors as Record<string, string>;
		assert.equal(second.mqtt_port, 'mqtt_port="99999" must be an integer 1-65535');
		assert.equal(second.sensor_interval, 'sensor_interval="5" must be an integer 100-86400000');
		const cross = host.request("POST", "/api/settings", { topic_led_state: "control/room1/led" }).json.errors as Record<string, string>;
		assert.ok(/must differ from topic_led_command/.test(cross.topic_led_state!), JSON.stringify(cross));
		assert.equal(host.settings.saves, 0);
		assert.equal(setting(device, "mqtt_port").value, "1883");
		// The same table: every editable key is one config.ts knows.
		for (const key of editableKeys) assert.ok(configKeys.some((spec) => spec.key === key), key);
	},

	"settings: a valid change is stored and applied by restarting what it changes (MQTT, telemetry), not Wi-Fi nor the device"() {
		const { host, device } = boot();
		host.request("POST", "/api/led", { on: true });
		const wifiAttempts = host.wifiAttempts;
		const connects = host.broker.connections.length;
		const client = host.request("POST", "/api/settings", { topic_temperature: "sensors/room9/temp", sensor_interval: "500" }, {}, 1000);
		assert.equal(client.status, 200);
		assert.deepEqual(client.json, { saved: true, restarting: ["mqtt", "telemetry"] });
		assert.deepEqual(JSON.parse(host.settings.text!), { topic_temperature: "sensors/room9/temp", sensor_interval: "500" });
		assert.equal(setting(device, "topic_temperature").source, "stored");
		host.virtual.advance(2000);
		assert.equal(host.wifiAttempts, wifiAttempts, "Wi-Fi untouched");
		assert.ok(host.broker.connections.length > connects, "MQTT reconnected");
		assert.ok(host.broker.publishedTo("sensors/room9/temp").length >= 3, "readings on the new topic, at the new interval");
		assert.equal(device.firmware.status().led, "on", "the LED kept its state");
		assert.equal(host.listenerClosed, false, "the web server kept running");
		assert.equal(host.request("GET", "/api/status").json.readings !== undefined, true);
	},

	"settings: stored > build > defaults; null forgets a stored value; they survive a restart"() {
		const first = boot({ sensor_interval: "3000" });
		assert.equal(first.host.request("POST", "/api/settings", { mqtt_password: "new-secret" }).status, 422, "a password needs a user name");
		assert.equal(first.host.request("POST", "/api/settings", { sensor_interval: "2000", mqtt_username: "device", mqtt_password: "new-secret" }).status, 200);
		assert.equal(first.device.settings.config().sensor.interval, 2000);
		// Power cycle: a new device on the same flash.
		const second = boot({ sensor_interval: "3000" }, (h) => h.settings.save(first.host.settings.text!));
		assert.equal(second.device.settings.config().sensor.interval, 2000);
		assert.equal(second.device.settings.config().mqtt.password, "new-secret");
		assert.equal(setting(second.device, "mqtt_password").value, "set");
		second.host.request("POST", "/api/settings", { sensor_interval: null });
		assert.deepEqual([setting(second.device, "sensor_interval").value, setting(second.device, "sensor_interval").source], ["3000", "build"]);
	},

	"settings: corrupt or outdated stored settings are set aside and reported; the build's run"() {
		for (const stored of ["{not json", JSON.stringify({ mqtt_port: "0" })]) {
			const { host, device } = boot({}, (h) => h.settings.save(stored));
			assert.equal(device.firmware.status().mqtt, "connected");
			assert.ok(/stored settings ignored/.test(device.settings.problem ?? ""));
			assert.equal(host.logged("settings", /stored settings ignored/).length, 1);
			assert.ok(/stored settings ignored/.test(host.request("GET", "/api/settings").json.problem as string));
		}
	},

	"settings: factory reset forgets every stored value and restarts Wi-Fi and MQTT"() {
		const { host, device } = boot({}, (h) => h.settings.save(JSON.stringify({ topic_temperature: "sensors/room9/temp" })));
		host.virtual.advance(1500);
		assert.ok(host.broker.publishedTo("sensors/room9/temp").length > 0);
		const client = host.request("POST", "/api/settings/reset", {}, {}, 1000);
		assert.equal(client.status, 200);
		assert.equal(host.settings.text, undefined);
		assert.equal(setting(device, "topic_temperature").source, "default");
		const before = host.broker.publishedTo("sensors/room1/temp").length;
		host.virtual.advance(3000);
		assert.ok(host.broker.publishedTo("sensors/room1/temp").length >= before + 2);
	},

	"bounds: a connection not yet read is never shed; beyond the slots it waits, beyond the queue it gets 503, one at a time, each counted"() {
		const { host } = boot();
		const room = defaultMaxConnections + defaultMaxWaiting;
		// Opened before their requests arrive, as browsers and parallel scripts do: every one is answered.
		const early = Array.from({ length: room }, () => host.connect());
		for (const client of early) assert.ok(!client.closed, "none is shed for not having sent yet");
		for (const client of early) client.send("GET /api/status HTTP/1.1\r\nHost: device\r\n\r\n");
		host.virtual.advance(50);
		assert.deepEqual(early.map((client) => client.status), early.map(() => 200));
		// Every slot held and the queue full: the next is answered 503 at once, logged and counted.
		const held = Array.from({ length: room }, () => host.connect());
		for (const client of held) client.send("GET /api/sta");
		const refused = host.connect();
		// While that 503 is written, one more is closed as it comes, never made a socket: still logged and counted.
		const closed = host.connect();
		assert.ok(closed.closed && !closed.accepted && closed.response === "", "closed at once, unanswered");
		host.virtual.advance(5);
		assert.equal(refused.status, 503);
		assert.ok(/busy/.test(String(refused.json.error)), String(refused.json.error));
		assert.ok(refused.closed);
		assert.equal(host.logged("http", /connection refused/).length, 2);
		for (const client of held) client.send("tus HTTP/1.1\r\n\r\n");
		host.virtual.advance(50);
		assert.deepEqual(held.map((client) => client.status), held.map(() => 200), "the waiting ones were served as slots came free");
		const stats = host.request("GET", "/api/status").json.http as Record<string, number>;
		assert.deepEqual([stats.refused, stats.queued, stats.connections], [2, 2 * defaultMaxWaiting, 1]);
		assert.equal(host.openSockets, 0);
	},

	"bounds: slow clients holding every slot are cut with 408 once others wait, and the waiting are served"() {
		const { host } = boot();
		const unanswered = (count: number): number[] => Array.from({ length: count }, () => 0);
		const slow = Array.from({ length: defaultMaxConnections }, () => host.connect());
		for (const client of slow) client.send("GET /api/status HTTP/1.1\r\nX-Slow: ");
		host.virtual.advance(1000);
		const patient = host.connect();
		patient.send("GET /api/status HTTP/1.1\r\n\r\n");
		host.virtual.advance(5);
		assert.equal(patient.status, 0, "waits for a slot");
		host.virtual.advance(1100);
		// One slow client is cut for the one waiting; the others are cut only when someone else waits.
		assert.deepEqual(slow.map((client) => client.status), [408, ...unanswered(defaultMaxConnections - 1)]);
		assert.ok(/while others waited/.test(slow[0]!.response), slow[0]!.response);
		assert.equal(patient.status, 200, "served within the contended bound, not after the 10 s request timeout");
		// The free slot goes to one that has not sent yet; the next waits, and a slow client past its bound gives its slot up at once.
		const next = [host.connect(), host.connect()];
		next[1]!.send("GET /api/status HTTP/1.1\r\n\r\n");
		host.virtual.advance(5);
		assert.deepEqual(slow.map((client) => client.status), [408, 408, ...unanswered(defaultMaxConnections - 2)]);
		next[0]!.send("GET /api/status HTTP/1.1\r\n\r\n");
		host.virtual.advance(5);
		assert.deepEqual(next.map((client) => client.status), [200, 200]);
		assert.equal((host.request("GET", "/api/status").json.http as Record<string, number>).shed, 2);
		// Alone, a slow client keeps the whole request timeout.
		const alone = host.connect();
		alone.send("GET / HTTP/1.1\r\n");
		host.virtual.advance(defaultLimits.requestTimeout - 100);
		assert.equal(alone.status, 0);
		host.virtual.advance(200);
		assert.equal(alone.status, 408);
	},

	"sockets: every connection ends in exactly one close(), whoever ends it; sockets and timers return to where they were"() {
		const { host } = boot();
		host.virtual.advance(1000);
		const timers = host.virtual.pending;
		for (let round = 0; round < 25; round++) {
			const clients = Array.from({ length: 6 }, () => host.connect());
			clients[0]!.reset();
			clients[1]!.send("GET /api/st");
			clients[1]!.reset();
			clients[2]!.send("GET /api/status HTTP/1.1\r\n\r\n");
			clients[4]!.send("POST /api/led HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{");
			host.virtual.advance(2);
			clients[3]!.reset();
			clients[4]!.reset();
			clients[5]!.reset();
			host.virtual.advance(20);
			clients[2]!.reset();
			host.virtual.advance(20);
		}
		assert.equal(host.openSockets, 0, "every socket was closed, including those whose peer went away");
		for (const client of host.clients) assert.equal(client.closes, 1, "closed exactly once");
		assert.equal(host.virtual.pending, timers, "no timer left behind");
		const status = host.request("GET", "/api/status").json.http as Record<string, number>;
		assert.equal(status.connections, 1, "only the request asking");
		assert.equal(host.openSockets, 0);
	},

	"sockets: a connection whose setup throws once its socket is made (no room for its timer) is closed by the server, which serves on"() {
		const { host } = boot();
		host.virtual.advance(1000);
		const set = host.timers.set;
		// Moddable's Timer.set throws "add failed" when the heap has no room for one (modules/base/timer/modTimer.c).
		host.timers.set = () => {
			throw new Error("add failed");
		};
		const failed = host.connect();
		host.timers.set = set;
		// The listener can close a connection it has not made into a socket; one made is the server's alone to close.
		assert.ok(failed.accepted && failed.closed, "the socket made was closed, not left open");
		assert.equal(failed.closes, 1, "closed exactly once");
		assert.deepEqual(host.acceptFailures, [], "the server handled its own failure");
		assert.equal(host.logged("http", /^connection dropped: add failed$/).length, 1, "logged");
		assert.equal(host.request("GET", "/api/status").status, 200);
		assert.equal(host.openSockets, 0);
	},

	"bounds: a slow client gets 408 and MQTT and readings go on meanwhile"() {
		const { host } = boot();
		const slow = host.connect();
		slow.send("POST /api/led HTTP/1.1\r\nContent-Length: 20\r\n\r\n{\"on\"");
		const before = host.broker.publishedTo("sensors/room1/temp").length;
		host.virtual.advance(defaultLimits.requestTimeout + 10);
		assert.equal(slow.status, 408);
		assert.ok(slow.closed);
		assert.ok(host.broker.publishedTo("sensors/room1/temp").length >= before + 9, "readings every second meanwhile");
		// A client that never reads its response is dropped at the connection's end of life.
		const silent = host.connect();
		host.virtual.advance(31_000);
		assert.ok(silent.closed);
	},

	"config: http_port is the port listened on; http_enabled=false serves nothing and the firmware runs"() {
		const on = boot({ http_port: "8081" });
		assert.equal(on.host.listening!.port, 8081);
		assert.equal(on.device.httpPort, 8081);
		const off = boot({ http_enabled: "false" });
		assert.equal(off.host.listening, undefined);
		assert.equal(off.device.httpPort, undefined);
		assert.equal(off.device.firmware.status().mqtt, "connected");
		off.device.shutdown();
		assert.ok(off.host.exited);
		on.device.shutdown();
		assert.ok(on.host.listenerClosed, "shutdown closes the listener");
	},

	"json: nesting is counted before JSON.parse, outside strings"() {
		assert.equal(nestsDeeperThan("[".repeat(maxJsonDepth), maxJsonDepth), false);
		assert.equal(nestsDeeperThan("[".repeat(maxJsonDepth + 1), maxJsonDepth), true);
		assert.equal(nestsDeeperThan(`{"a":"${"[".repeat(100)}"}`, 2), false, "brackets in a string do not count");
		assert.equal(nestsDeeperThan('{"a":"\\"[[[[["}', 2), false, "an escaped quote does not end the string");
		assert.equal(nestsDeeperThan('{"a":"\\\\"[[[[[', 2), true, "an escaped backslash does not escape the quote after it");
		assert.equal(nestsDeeperThan("[[],[],[[]]]", 3), false, "depth, not count");
	},

	"json: nesting is counted over a body's bytes as over text, and bad UTF-8 is refused after it, before any string"() {
		const bytes = (text: string): Uint8Array => ascii(text);
		assert.equal(nestsDeeperThan(bytes("[".repeat(maxJsonDepth)), maxJsonDepth), false);
		assert.equal(nestsDeeperThan(bytes('{"a":'.repeat(350)), maxJsonDepth), true);
		assert.equal(nestsDeeperThan(bytes('{"a":"\\\\"[[[[['), 2), true, "an escaped backslash does not escape the quote after it");
		// A multi-byte sequence never holds an ASCII byte: é inside a string leaves the count alone.
		assert.equal(nestsDeeperThan(new Uint8Array([0x5b, 0x22, 0xc3, 0xa9, 0x5b, 0x22, 0x5d]), 1), false);
		assert.deepEqual(parseJson(new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0xa9, 0x22, 0x7d])), { value: { a: "\u00e9" } });
		assert.deepEqual(parseJson(new Uint8Array([0x22, 0xff, 0x22])), { error: "the body is not valid UTF-8" });
		assert.deepEqual(parseJson(new Uint8Array([0x5b, 0x5b, 0x5b, 0xff]), 2), { error: "the JSON nests deeper than 2 levels" }, "the depth is checked first");
	},

	"http: a body that came in the same read as its head is handed on where it lies, not copied"() {
		const raw = ascii("POST /api/led HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"on\":true}");
		const request = parse(raw) as HttpRequest;
		assert.equal(request.body.buffer, raw.buffer, "a view of the received bytes");
		assert.equal(String.fromCharCode(...request.body), '{"on":true}');
		// A body split over reads is gathered into its own buffer.
		const http = new HttpConnection(0);
		http.receive(raw.subarray(0, raw.length - 4));
		http.receive(raw.slice(raw.length - 4));
		const split = http.pollRequest() as HttpRequest;
		assert.equal(String.fromCharCode(...split.body), '{"on":true}');
		assert.ok(split.body.buffer !== raw.buffer);
	},

	"http: a string body is sent as UTF-8 a slice at a time, a character split across two writes whole"() {
		const http = new HttpConnection(0);
		http.receive(ascii("GET / HTTP/1.1\r\n\r\n"));
		http.pollRequest();
		const text = `{"unit":"°C","name":"${"x".repeat(40)}€𝄞"}`;
		http.respond({ status: 200, body: text });
		const sent: number[] = [];
		// Three bytes a write: the 2-, 3- and 4-byte characters each straddle a boundary.
		for (let bytes = http.pollTransmit(3); bytes; bytes = http.pollTransmit(3)) sent.push(...bytes);
		const whole = new Uint8Array(sent);
		const head = String.fromCharCode(...whole).indexOf("\r\n\r\n") + 4;
		const body = whole.subarray(head);
		assert.equal(String.fromCharCode(...whole.subarray(0, head)).includes(`Content-Length: ${body.length}\r\n`), true);
		assert.deepEqual([...body], [...encodeUtf8(text)]);
	},

	"http: a body of parts is sent a part at a time, each asked for once to count and once to send, characters split across writes and parts whole"() {
		const parts = ['{"a":"°', "", "C€", `${"y".repeat(30)}𝄞"}`];
		const asked: number[] = [];
		const http = new HttpConnection(0);
		http.receive(ascii("GET / HTTP/1.1\r\n\r\n"));
		http.pollRequest();
		http.respond({ status: 200, body: { count: parts.length, part: (index: number) => (asked.push(index), parts[index]!) } });
		assert.deepEqual(asked, [0, 1, 2, 3], "counted when the answer is queued");
		const sent: number[] = [];
		for (let bytes = http.pollTransmit(3); bytes; bytes = http.pollTransmit(3)) sent.push(...bytes);
		assert.deepEqual(asked, [0, 1, 2, 3, 0, 1, 2, 3], "each part made again as it is sent, once");
		const whole = new Uint8Array(sent);
		const head = String.fromCharCode(...whole).indexOf("\r\n\r\n") + 4;
		assert.equal(String.fromCharCode(...whole.subarray(0, head)).includes(`Content-Length: ${whole.length - head}\r\n`), true);
		assert.deepEqual([...whole.subarray(head)], [...encodeUtf8(parts.join(""))]);
	},

	"settings: GET /api/settings is written a setting at a time; a save while it is sent changes nothing in it"() {
		const { host } = boot();
		const reading = host.request("GET", "/api/settings", undefined, {}, 0);
		assert.ok(reading.response.length > 0 && !reading.closed, "the answer is under way, not yet whole");
		assert.equal(host.request("POST", "/api/settings", { device_name: "Attic" }).status, 200);
		host.virtual.advance(50);
		const values = reading.json.values as { key: string; value: string; source: string }[];
		const name = values.find((view) => view.key === "device_name")!;
		assert.deepEqual([name.value, name.source], ["Room 1 sensor", "default"], "the values when the answer began");
		assert.equal(values.length, editableKeys.length);
		const after = (host.request("GET", "/api/settings").json.values as { key: string; value: string }[]).find((view) => view.key === "device_name")!;
		assert.equal(after.value, "Attic");
	},

	"http: a client's bytes are read at most readSize at a time into one buffer of the server's, the refused rest dropped as it comes"() {
		const { host } = boot();
		// A head over the limit (431), sent at once, then one at the limit with a body of 413 arriving in parts after the answer.
		const long = host.connect();
		long.send(`GET / HTTP/1.1\r\nX: ${"a".repeat(3000)}\r\n\r\n`);
		host.virtual.advance(20);
		assert.equal(long.status, 431);
		const big = host.connect();
		big.send(`POST /api/settings HTTP/1.1\r\nHost: device\r\nContent-Type: application/json\r\nContent-Length: 99999\r\n\r\n`);
		for (let i = 0; i < 3; i++) big.send("x".repeat(1500));
		host.virtual.advance(20);
		assert.equal(big.status, 413);
		for (const client of [long, big]) {
			assert.ok(client.reads.length > 1, `${client.reads.length} reads`);
			assert.ok(Math.max(...client.reads) <= readSize, `reads of ${client.reads.join(", ")} bytes`);
		}
		// Every read of every connection went into the same buffer: reading allocates none.
		const buffers = new Set([...long.readInto, ...big.readInto]);
		assert.equal(buffers.size, 1);
		assert.equal([...buffers][0]!.byteLength, readSize);
		// A request that spans several reads, its head split, is served whole.
		const settings = host.request("POST", "/api/settings", { device_name: "d".repeat(1000) }, { "X-Pad": "p".repeat(700) });
		assert.equal(settings.status, 200, settings.response.slice(0, 200));
		assert.ok(settings.reads.length >= 3);
		assert.equal(host.request("GET", "/api/status").status, 200);
	},

	"http: a head is never joined past its limit, however much arrives after the part already read"() {
		const http = new HttpConnection(0);
		http.receive(ascii("GET / HTTP/1.1\r\nX: a"));
		// The next read holds the rest of a head and far more: only up to the limit is joined, and the request is served.
		const rest = ascii(`${"a".repeat(defaultLimits.maxHead - 40)}\r\n\r\n${"b".repeat(8000)}`);
		http.receive(rest);
		const request = http.pollRequest() as HttpRequest;
		assert.equal(request.method, "GET");
		assert.equal(request.headers.x!.length, defaultLimits.maxHead - 39);
		const over = new HttpConnection(0);
		over.receive(ascii("GET / HTTP/1.1\r\nX: a"));
		over.receive(ascii("a".repeat(20000)));
		assert.equal((over.pollRequest() as HttpRejection).status, 431);
		// A body after a split head, partly in the joined part and partly past it, arrives whole.
		const body = `{"on":${" ".repeat(3000)}true}`;
		const split = new HttpConnection(0);
		split.receive(ascii("POST /api/led HTTP/1.1\r\nX: a"));
		split.receive(ascii(`${"a".repeat(defaultLimits.maxHead - 60)}\r\nContent-Length: ${body.length}\r\n\r\n${body}`));
		const posted = split.pollRequest() as HttpRequest;
		assert.equal(String.fromCharCode(...posted.body), body);
	},

	"utf8: one encoder, whole or a part at a time: every split of 1- to 4-byte characters gives encodeUtf8's bytes"() {
		const text = "a\u00e9\u20ac\ud834\udd1eb\u00ff\u4e2d\ud83d\ude00";
		const whole = encodeUtf8(text);
		assert.deepEqual([...whole], [0x61, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9d, 0x84, 0x9e, 0x62, 0xc3, 0xbf, 0xe4, 0xb8, 0xad, 0xf0, 0x9f, 0x98, 0x80]);
		for (let part = 1; part <= 5; part++) {
			const cursor: Utf8Cursor = { index: 0, taken: 0 };
			const out: number[] = [];
			for (let start = 0; start < whole.length; start += part) {
				const bytes = new Uint8Array(Math.min(part, whole.length - start));
				assert.equal(writeUtf8(text, bytes, 0, cursor), bytes.length);
				out.push(...bytes);
			}
			assert.deepEqual(out, [...whole], `parts of ${part}`);
			assert.deepEqual(cursor, { index: text.length, taken: 0 });
		}
	},

	"utf8: the native decoder gives decodeUtf8's answers: text, and undefined for malformed bytes and U+0000"() {
		const calls: number[] = [];
		const native = new TextDecoder("utf-8", { ignoreBOM: true });
		const decoder = { decode: (bytes: Uint8Array): string => (calls.push(bytes.length), native.decode(bytes)) };
		const cases = [[0x7b, 0xc3, 0xa9, 0x7d], [0xef, 0xbf, 0xbd], [0xef, 0xbb, 0xbf, 0x61], [0x22, 0xff, 0x22], [0x61, 0, 0x62], [0xc3, 0x28],
			[0xed, 0xa0, 0x80], [0xe0, 0x80, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]];
		for (const values of cases) {
			const bytes = new Uint8Array([0x20, ...values, 0x20]);
			assert.equal(decodeUtf8With(decoder, bytes, 1, bytes.length - 1), decodeUtf8(bytes, 1, bytes.length - 1), values.join());
		}
		assert.equal(decodeUtf8With(decoder, ascii("\"\u00ef\u00bf\u00bd\""), 0, 5), "\"\ufffd\"", "a U+FFFD sent is kept");
		assert.equal(calls.length, cases.length + 1);
		assert.deepEqual(parseJson(new Uint8Array([0x22, 0xff, 0x22]), maxJsonDepth, decoder), { error: "the body is not valid UTF-8" });
		assert.deepEqual(parseJson(ascii('{"a":"b"}'), maxJsonDepth, decoder), { value: { a: "b" } });
		assert.equal(calls.length, cases.length + 3, "a body is decoded natively");
	},

	"json: a deeply nested body is refused with 400 before it can overflow the stack; the device keeps serving"() {
		const { host, device } = boot();
		const bodies = ["[".repeat(4000), '{"a":'.repeat(800), `{"on":${"[".repeat(maxJsonDepth)}`];
		for (const path of ["/api/led", "/api/settings"]) {
			for (const body of bodies) {
				const client = host.request("POST", path, body);
				assert.equal(client.status, 400, client.response.slice(0, 120));
				assert.equal(client.json.error, `the JSON nests deeper than ${maxJsonDepth} levels`);
			}
		}
		// As deep as allowed is parsed, and refused for its shape, not its depth.
		assert.equal(host.request("POST", "/api/led", `{"on":${"[".repeat(maxJsonDepth - 1)}${"]".repeat(maxJsonDepth - 1)}}`).status, 422);
		assert.equal(host.settings.saves, 0);
		assert.equal(host.request("POST", "/api/led", { on: true }).status, 200);
		assert.equal(device.firmware.status().led, "on");
	},

	"settings: __proto__, constructor and other unknown keys are refused 422 by name, with no prototype reached"() {
		const { host, device } = boot();
		const restarts = host.logged("settings", /restarting/).length;
		for (const key of ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"]) {
			const client = host.request("POST", "/api/settings", `{${JSON.stringify(key)}:"x"}`);
			assert.equal(client.status, 422, `${key}: ${client.response.slice(0, 160)}`);
			const errors = client.json.errors as Record<string, string>;
			assert.deepEqual(Object.keys(errors), [key]);
			assert.equal(errors[key], `${key} is not a setting`);
		}
		const mixed = host.request("POST", "/api/settings", '{"__proto__":{"ssid":"evil"},"device_name":"ok","constructor":1}');
		assert.equal(mixed.status, 422);
		assert.deepEqual(Object.keys(mixed.json.errors as object).sort(), ["__proto__", "constructor"]);
		assert.equal(host.request("POST", "/api/led", '{"__proto__":{"on":true}}').status, 422);
		host.virtual.advance(1000);
		assert.equal(host.settings.saves, 0);
		assert.equal(host.logged("settings", /restarting/).length, restarts, "nothing restarted");
		assert.equal(setting(device, "device_name").source, "default");
		assert.equal(({} as Record<string, unknown>).ssid, undefined, "no prototype was written");
	},

	"settings: each key takes its JSON type: text keys strings, numbers for numeric keys, true/false for booleans"() {
		const { host, device } = boot();
		const refused = host.request("POST", "/api/settings", { ssid: false, device_name: 12, mqtt_port: true, mqtt_tls: 1, topic_status: ["a"] });
		assert.equal(refused.status, 422);
		assert.deepEqual(refused.json.errors, {
			ssid: "ssid must be text (a JSON string)", device_name: "device_name must be text (a JSON string)",
			mqtt_port: "mqtt_port must be a number", mqtt_tls: "mqtt_tls must be true or false", topic_status: "topic_status must be text (a JSON string)",
		});
		assert.equal(host.settings.saves, 0);
		const taken = host.request("POST", "/api/settings", { mqtt_port: 1884, mqtt_tls: false, sensor_interval: "2000", device_name: "Den" });
		assert.equal(taken.status, 200, taken.response);
		assert.deepEqual([setting(device, "mqtt_port").value, setting(device, "mqtt_tls").value, setting(device, "device_name").value], ["1884", "false", "Den"]);
	},

	"settings: saving restarts only what changed; {} restarts nothing; seq and the readings waiting to be sent survive every restart"() {
		const { host, device } = boot({ sensor_interval: "500" });
		host.request("POST", "/api/led", { on: true });
		host.virtual.advance(2000);
		const wifiAttempts = host.wifiAttempts;
		let connects = host.broker.connections.length;
		const save = (changes: Record<string, unknown>): unknown => {
			const client = host.request("POST", "/api/settings", changes, {}, 5);
			assert.equal(client.status, 200, client.response);
			host.virtual.advance(1000);
			return client.json.restarting;
		};
		// Saved in quick succession: each answer names its own change, and both apply.
		const first = host.request("POST", "/api/settings", { sensor_precision: "3" }, {}, 1);
		const second = host.request("POST", "/api/settings", {}, {}, 1);
		assert.deepEqual([first.json.restarting, second.json.restarting], [["telemetry"], []]);
		host.virtual.advance(1000);
		assert.equal(host.logged("settings", /restarting telemetry/).length, 1, "one apply, after the last save, restarts what the first changed");
		assert.ok(/"temperature":\d+\.\d{3},/.test(host.broker.publishedTo("sensors/room1/temp").pop() ?? ""), "the first change applied");
		assert.deepEqual(save({}), [], "{} restarts nothing");
		assert.deepEqual(save({ http_password: "" }), [], "the page's password is read per request");
		assert.deepEqual(save({ sensor_interval: "500" }), [], "the value it already has");
		assert.deepEqual([host.wifiAttempts, host.broker.connections.length], [wifiAttempts, connects]);
		assert.deepEqual(save({ sensor_precision: "1" }), ["telemetry"]);
		assert.deepEqual(save({ device_name: "Den" }), ["discovery"]);
		assert.deepEqual([host.wifiAttempts, host.broker.connections.length], [wifiAttempts, connects], "neither Wi-Fi nor MQTT restarted");
		// Readings wait while the broker is away; a new topic restarts MQTT only, and they go out on it.
		host.broker.setUp(false);
		host.virtual.advance(3000);
		assert.ok(device.firmware.status().outbox as number >= 5, `readings waiting: ${String(device.firmware.status().outbox)}`);
		assert.deepEqual(save({ topic_temperature: "sensors/room9/temp" }), ["mqtt"]);
		host.broker.setUp(true);
		host.virtual.advance(8000);
		assert.equal(host.wifiAttempts, wifiAttempts, "Wi-Fi untouched by a broker change");
		connects = host.broker.connections.length;
		assert.deepEqual(save({ ssid: "attic" }), ["wifi"]);
		assert.ok(host.wifiAttempts > wifiAttempts, "Wi-Fi rejoined");
		host.virtual.advance(5000);
		const seqs = [...host.broker.publishedTo("sensors/room1/temp"), ...host.broker.publishedTo("sensors/room9/temp")].map((payload) => (JSON.parse(payload) as { seq: number }).seq);
		const unique = [...new Set(seqs)].sort((a, b) => a - b);
		assert.equal(unique[0], 1);
		assert.deepEqual(unique, unique.map((_, i) => i + 1), "no reading lost, seq never reset");
		assert.ok(unique.length >= 30, `${unique.length} readings`);
		assert.ok(host.broker.publishedTo("sensors/room9/temp").length > 10, "the readings that waited went out on the new topic");
		assert.equal(device.firmware.status().led, "on", "the LED kept its state");
		assert.ok(host.broker.connections.length > connects, "MQTT reconnected over the new Wi-Fi");
		assert.equal(device.firmware.status().mqtt, "connected");
	},

	"settings: mqtt_host must be a host name or IP address"() {
		const { host } = boot();
		const refused = host.request("POST", "/api/settings", { mqtt_host: "bad host!" });
		assert.equal(refused.status, 422);
		assert.ok(/mqtt_host="bad host!" must be a host name/.test((refused.json.errors as Record<string, string>).mqtt_host!), refused.response);
		for (const good of ["broker.lan", "10.0.0.2", "mqtt-1.example.com"]) assert.equal(host.request("POST", "/api/settings", { mqtt_host: good }).status, 200, good);
	},

	"settings: http_password is at most 64 characters, so a signed request fits the head; an over-long stored one is set aside at start, not locking the device"() {
		const { host } = boot();
		const refused = host.request("POST", "/api/settings", { http_password: "p".repeat(65) });
		assert.equal(refused.status, 422);
		const problem = (refused.json.errors as Record<string, string>).http_password!;
		assert.equal(problem, "http_password=(hidden) must be at most 64 characters (it has 65)");
		const longest = "p".repeat(64);
		assert.equal(host.request("POST", "/api/settings", { http_password: longest }).status, 200);
		const signed = host.request("POST", "/api/led", { on: true }, { ...basic(longest, "a-rather-long-user-name"), "User-Agent": "x".repeat(600), Accept: "*/*".repeat(100) });
		assert.equal(signed.status, 200, signed.response.slice(0, 100));
		// Stored by an older firmware (or edited): the password is set aside, the rest applies, and the page says so.
		const old = boot({}, (h) => h.settings.save(JSON.stringify({ http_password: "x".repeat(1600), device_name: "Kitchen" })));
		assert.ok(/stored settings ignored for http_password: http_password=\(hidden\) must be at most 64/.test(old.device.settings.problem ?? ""), old.device.settings.problem);
		assert.equal(setting(old.device, "device_name").value, "Kitchen");
		assert.equal(old.host.request("POST", "/api/led", { on: true }).status, 200, "reachable, not locked out");
		assert.ok(!(old.device.settings.problem ?? "").includes("xxxx"), "the secret is not shown");
	},

	"security: a change must name the device in Host, and an Origin must be its own page (DNS rebinding); reads are not changes"() {
		const { host, device } = boot();
		for (const name of ["192.168.1.40", "192.168.1.40:8080", "[fe80::1]:80", "localhost:8080", "room1.local", "Room1.LOCAL.", "room1", "room1.lan", "room1.home.arpa"]) {
			const client = host.request("POST", "/api/led", { state: "toggle" }, { Host: name });
			assert.equal(client.status, 200, `${name}: ${client.response.slice(0, 120)}`);
		}
		const led = device.firmware.status().led;
		for (const name of ["evil.example", "192.168.1.40.nip.io", "attacker.com:80", "bad host", ""]) {
			const client = host.request("POST", "/api/led", { state: "toggle" }, { Host: name });
			assert.equal(client.status, 403, `${name}: ${client.response.slice(0, 120)}`);
			assert.ok(/DNS rebinding/.test(String(client.json.error)), String(client.json.error));
		}
		for (const origin of ["http://evil.example", "null", "https://192.168.1.40", "http://192.168.1.40:81"]) {
			const client = host.request("POST", "/api/led", { state: "toggle" }, { Host: "192.168.1.40", Origin: origin });
			assert.equal(client.status, 403, origin);
			assert.ok(/is not this device's page/.test(String(client.json.error)), String(client.json.error));
		}
		assert.equal(device.firmware.status().led, led, "no refused change went through");
		assert.equal(host.request("POST", "/api/led", { on: true }, { Host: "192.168.1.40", Origin: "http://192.168.1.40" }).status, 200);
		assert.equal(host.request("POST", "/api/settings", { device_name: "x" }, { Host: "evil.example" }).status, 403);
		assert.equal(host.request("POST", "/api/settings/reset", {}, { Host: "evil.example" }).status, 403);
		assert.equal(host.settings.saves, 0);
		assert.equal(host.request("GET", "/api/status", undefined, { Host: "evil.example" }).status, 200, "reading the status is not a change");
	},

	"settings: more than flash holds is refused"() {
		const { host } = boot();
		const big = "x".repeat(1000);
		const client = host.request("POST", "/api/settings", { ssid: big, mqtt_host: big, mqtt_username: big, device_name: big, mqtt_client_id: big });
		assert.equal(client.status, 413);
		const fits = host.request("POST", "/api/settings", { ssid: big, topic_status: big, mqtt_username: big });
		assert.equal(fits.status, 200);
		const over = host.request("POST", "/api/settings", { device_name: "y".repeat(900), mqtt_tls_server_name: "z".repeat(100) });
		assert.equal(over.status, 422);
		assert.ok(/fit in flash/.test((over.json.errors as Record<string, string>)._!));
	},
}));
