/*
 * The web page's server and API on a virtual clock, on Node and on XS: the
 * HTTP parser's limits, every route and every refusal, HTTP Basic, stored
 * settings with their precedence, factory reset, and the bounds that keep a
 * slow or abusive client from starving MQTT and readings.
 */
import { defineSuite } from "test/lib/suite";
import * as assert from "test/lib/assert";
import { WebHost, writableBudget } from "test/lib/fake-web";
import { HttpConnection, defaultLimits, type HttpRejection, type HttpRequest } from "web/http";
import { startDevice, type Device } from "web/device";
import { decodeBase64 } from "web/base64";
import { pageGzipBase64, pageHtml } from "web/page";
import { editableKeys } from "web/settings";
import { configKeys } from "config";

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

function setting(device: Device, key: string): { value: string; source: string } {
	return device.settings.describe().find((view) => view.key === key)!;
}

export const suite = defineSuite("web server and API", {
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

	"settings: a valid change is stored and applied by restarting Wi-Fi and MQTT, not the device"() {
		const { host, device } = boot();
		host.request("POST", "/api/led", { on: true });
		const wifiAttempts = host.wifiAttempts;
		const connects = host.broker.connections.length;
		const client = host.request("POST", "/api/settings", { topic_temperature: "sensors/room9/temp", sensor_interval: "500" }, {}, 1000);
		assert.equal(client.status, 200);
		assert.deepEqual(JSON.parse(host.settings.text!), { topic_temperature: "sensors/room9/temp", sensor_interval: "500" });
		assert.equal(setting(device, "topic_temperature").source, "stored");
		host.virtual.advance(2000);
		assert.ok(host.wifiAttempts > wifiAttempts, "Wi-Fi rejoined");
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

	"bounds: a new connection sheds an idle one, and is refused when all are busy"() {
		const { host } = boot();
		const idle = [host.connect(), host.connect(), host.connect(), host.connect()];
		const fifth = host.connect();
		assert.ok(idle[0]!.closed, "the oldest idle connection was shed");
		fifth.send("GET /api/status HTTP/1.1\r\n\r\n");
		host.virtual.advance(5);
		assert.equal(fifth.status, 200);
		const busy = [host.connect(), host.connect(), host.connect(), host.connect()];
		for (const client of busy) client.send("GET /api/sta");
		const refused = host.connect();
		assert.ok(refused.closed, "refused while every slot holds a request in progress");
		refused.send("GET /api/status HTTP/1.1\r\n\r\n");
		host.virtual.advance(5);
		assert.equal(refused.status, 0);
		busy[0]!.send("tus HTTP/1.1\r\n\r\n");
		host.virtual.advance(5);
		assert.equal(busy[0]!.status, 200);
		assert.equal(host.request("GET", "/api/status").status, 200, "a freed slot serves again");
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

	"settings: more than flash holds is refused"() {
		const { host } = boot();
		const big = "x".repeat(1000);
		const client = host.request("POST", "/api/settings", { ssid: big, mqtt_host: big, mqtt_username: big, device_name: big, mqtt_client_id: big });
		assert.equal(client.status, 413);
		const fits = host.request("POST", "/api/settings", { ssid: big, mqtt_host: big, mqtt_username: big });
		assert.equal(fits.status, 200);
		const over = host.request("POST", "/api/settings", { device_name: "y".repeat(900), mqtt_tls_server_name: "z".repeat(100) });
		assert.equal(over.status, 422);
		assert.ok(/fit in flash/.test((over.json.errors as Record<string, string>)._!));
	},
});
