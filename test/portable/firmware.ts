/*
 * The firmware's scenarios on a virtual clock, on Node and on XS: config,
 * Wi-Fi drops, sensor faults, the LED grammar, availability, and readings
 * taken offline. The whole application runs against test/lib/fake-host.
 */
import { defineSuite } from "test/lib/suite";
import * as assert from "test/lib/assert";
import { FakeHost, seededRandom, text } from "test/lib/fake-host";
import { ConfigError, configKeys, parseConfig } from "config";
import { startFirmware } from "firmware/app";
import { parseLedCommand, safeQuote } from "firmware/led";
import type { FirmwareHandle } from "platform";
import { formatLogLine } from "log";

const ascii = (value: string): Uint8Array => Uint8Array.from(value, (c) => c.charCodeAt(0));

interface Device {
	host: FakeHost;
	firmware: FirmwareHandle;
}

function boot(overrides: Record<string, string> = {}, prepare?: (host: FakeHost) => void): Device {
	const host = new FakeHost();
	prepare?.(host);
	const config = parseConfig({ ssid: "home", sensor: "simulated", sensor_interval: "1000", mqtt_backoff_min: "500", mqtt_backoff_max: "4000", ...overrides });
	const firmware = startFirmware(host, config, { random: seededRandom(3) });
	return { host, firmware };
}

function online(overrides: Record<string, string> = {}, prepare?: (host: FakeHost) => void): Device {
	const device = boot(overrides, prepare);
	device.host.virtual.advance(200);
	assert.equal(device.firmware.status().mqtt, "connected");
	return device;
}

function readings(host: FakeHost): { temperature: number; unit: string; seq: number; ts: number; clock: string }[] {
	return host.broker.publishedTo("sensors/room1/temp").map((payload) => JSON.parse(payload));
}

export const suite = defineSuite("firmware on a virtual clock", {
	"logs: one line format, identical on the device's engine and on Node"() {
		assert.equal(formatLogLine("warn", "mqtt", "waiting: no CONNACK", { delay: 1500, reason: 'said "no"', tls: false, rtt: null, at: 0.25 }),
			'WARN  mqtt: waiting: no CONNACK delay=1500 reason="said \\"no\\"" tls=false rtt=null at=0.25');
		assert.equal(formatLogLine("error", "sensor", "sensor error"), "ERROR sensor: sensor error");
		// What the firmware logs never carries a secret.
		const { host } = online({ mqtt_username: "device", mqtt_password: "hunter2", password: "wifi-secret" });
		host.broker.current!.drop();
		host.virtual.advance(5000);
		const lines = host.logs.map((record) => formatLogLine(record.level, record.tag, record.message, record.fields));
		assert.ok(lines.length > 5, "the firmware logged");
		assert.ok(lines.every((line) => !line.includes("hunter2") && !line.includes("wifi-secret")), lines.join("\n"));
	},

	"config: parses flat strings from the command line into typed values"() {
		const config = parseConfig({ ssid: "home", mqtt_port: "8883", mqtt_tls: "TRUE", sensor_address: "0x44", sensor_deadband: "0.25", led_active_low: "yes", mqtt_outbox_policy: "reject-new" });
		assert.equal(config.mqtt.port, 8883);
		assert.deepEqual(config.mqtt.tls, { serverName: "127.0.0.1" });
		assert.equal(config.sensor.address, 0x44);
		assert.equal(config.sensor.deadband, 0.25);
		assert.equal(config.led.activeLow, true);
		assert.equal(config.mqtt.outbox.policy, "reject-new");
		assert.equal(config.topics.temperature, "sensors/room1/temp");
	},

	"config: a CA certificate may come on one line, and must be PEM"() {
		const body = "MIIBhTCCASugAwIBAgIUQ".repeat(5);
		const pem = `-----BEGIN CERTIFICATE-----\n${body.slice(0, 64)}\n${body.slice(64)}\n-----END CERTIFICATE-----\n`;
		const oneLine = pem.replace(/\n/g, " ");
		assert.equal(parseConfig({ ssid: "home", mqtt_tls: "true", mqtt_tls_ca: oneLine }).mqtt.tls?.ca, pem);
		assert.equal(parseConfig({ ssid: "home", mqtt_tls: "true", mqtt_tls_ca: pem + pem }).mqtt.tls?.ca, pem + pem, "a chain keeps every certificate");
		assert.throws(() => parseConfig({ ssid: "home", mqtt_tls: "true", mqtt_tls_ca: "/etc/ssl/ca.pem" }), /mqtt_tls_ca must be a PEM certificate/);
	},

	"config: accepts manifest values that are numbers and booleans"() {
		const config = parseConfig({ ssid: "home", mqtt_port: 1884, mqtt_clean_session: true, sensor_interval: 500 });
		assert.equal(config.mqtt.port, 1884);
		assert.equal(config.mqtt.cleanSession, true);
		assert.equal(config.sensor.interval, 500);
	},

	"config: names every bad key, its value and what was expected, all at once"() {
		let error: unknown;
		try {
			parseConfig({ ssid: "home", mqtt_port: "abc", sensor_qos: "3", topic_temperature: "sensors/+/temp", led_pin: "-1", mqtt_tls: "maybe", sensor: "bmp280", topic_led_command: "a/#/b" });
		} catch (e) {
			error = e;
		}
		assert.ok(error instanceof ConfigError, "a ConfigError");
		const problems = (error as ConfigError).problems;
		assert.equal(problems.length, 7, problems.join(" | "));
		assert.ok(problems.includes('mqtt_port="abc" must be an integer 1-65535'), problems.join(" | "));
		assert.ok(problems.includes('sensor_qos="3" must be an integer 0-2'));
		assert.ok(problems.some((p) => p.startsWith('topic_temperature="sensors/+/temp" must be a publish topic') && p.includes("wildcards")));
		assert.ok(problems.some((p) => p.startsWith("mqtt_tls=\"maybe\" must be true or false")));
		assert.ok(problems.includes('sensor="bmp280" must be one of tmp102, sht3x, ds18b20, ntc, simulated, simulated-faulty'));
		assert.ok(problems.some((p) => p.startsWith('topic_led_command="a/#/b" must be a topic filter')));
	},

	"config: never shows a secret in an error"() {
		let message = "";
		try {
			parseConfig({ ssid: "home", mqtt_password: "hunter2" });
		} catch (e) {
			message = (e as Error).message;
		}
		assert.ok(message.includes("mqtt_password needs mqtt_username"));
		assert.ok(!message.includes("hunter2"));
	},

	"config: refuses settings that would misbehave together"() {
		assert.throws(() => parseConfig({ ssid: "home", mqtt_backoff_min: "5000", mqtt_backoff_max: "1000" }), /mqtt_backoff_max=1000 must be >= mqtt_backoff_min/);
		assert.throws(() => parseConfig({ ssid: "home", topic_led_state: "control/room1/led" }), /must differ from topic_led_command/);
	},

	"config: the result is frozen, and every key has a default that parses"() {
		const defaults: Record<string, string> = {};
		for (const key of configKeys) defaults[key.key] = key.default;
		defaults.ssid = "x";
		const config = parseConfig(defaults);
		assert.ok(Object.isFrozen(config) && Object.isFrozen(config.mqtt) && Object.isFrozen(config.mqtt.backoff));
	},

	"LED: accepts every documented form, case-insensitive and trimmed"() {
		const table: [string, string][] = [
			["on", "on"], ["ON", "on"], ["oN", "on"], ["OFF", "off"], ["Off", "off"], [" Toggle\n", "toggle"], ["TOGGLE", "toggle"], ["tOgGlE", "toggle"], ["1", "on"], ["0", "off"], ["TRUE", "on"], ["false", "off"],
			['{"state":"on"}', "on"], ['{"state":"OFF"}', "off"], [' {"state": "toggle"} ', "toggle"], ['{"state":true}', "on"], ['{"state":0}', "off"],
		];
		for (const [payload, expected] of table) {
			const result = parseLedCommand(ascii(payload));
			assert.ok("command" in result && result.command === expected, `${JSON.stringify(payload)}: ${JSON.stringify(result)}`);
		}
	},

	"LED: rejects everything else with a reason"() {
		const table: [Uint8Array, RegExp][] = [
			[ascii("blink"), /unknown command/],
			// Six bytes that TOGGLE's byte-by-byte match must not take ("togglf", "t0ggle").
			[ascii("togglf"), /unknown command/],
			[ascii("t0ggle"), /unknown command/],
			[ascii(""), /empty command/],
			[ascii("   "), /empty command/],
			[ascii("constructor"), /unknown command/],
			[ascii("x".repeat(65)), /65 bytes is longer than 64/],
			[Uint8Array.of(0x6f, 0x6e, 0x00), /not printable ASCII/],
			[Uint8Array.of(0xc3, 0xa9), /not printable ASCII/],
			[ascii('{"state":'), /invalid JSON/],
			[ascii('{"state":"blink"}'), /JSON command needs "state"/],
			[ascii('{"power":"on"}'), /JSON command needs "state"/],
			[ascii("null"), /unknown command/],
			// The byte-wise match for on and off takes nothing else of their length.
			[ascii("o."), /unknown command/], [ascii("/n"), /unknown command/], [ascii("of&"), /unknown command/], [ascii("0FF"), /unknown command/],
			[Uint8Array.of(0x6f, 0xce), /not printable ASCII/],
		];
		for (const [payload, reason] of table) {
			const result = parseLedCommand(payload);
			assert.ok("error" in result && reason.test(result.error), `${safeQuote(payload)}: ${JSON.stringify(result)}`);
		}
	},

	"LED: quotes untrusted payloads safely"() {
		assert.equal(safeQuote(Uint8Array.of(0x6f, 0x6e, 0x0a, 0x22)), '"on\\x0a\\x22"');
		assert.equal(safeQuote(ascii("y".repeat(40))), `"${"y".repeat(32)}"... (40 bytes)`);
	},

	"LED: a command drives the pin and publishes the state, retained"() {
		const { host, firmware } = online();
		assert.equal(host.ledPin, 2);
		host.broker.deliver("control/room1/led", "ON", 1);
		assert.equal(host.ledLevels[host.ledLevels.length - 1], 1);
		assert.equal(firmware.status().led, "on");
		const state = host.broker.published.filter((p) => p.topic === "control/room1/led/state");
		assert.deepEqual(state.map((p) => [text(p.payload), p.retain]), [["off", true], ["on", true]]);
		host.broker.deliver("control/room1/led", "toggle", 1);
		assert.equal(firmware.status().led, "off");
		assert.equal(host.ledLevels[host.ledLevels.length - 1], 0);
	},

	"LED: active-low inverts the pin, not the state"() {
		const { host, firmware } = online({ led_active_low: "true", led_pin: "5" });
		assert.equal(host.ledPin, 5);
		assert.equal(host.ledLevels[0], 1, "off is high when active-low");
		host.broker.deliver("control/room1/led", "on", 1);
		assert.equal(host.ledLevels[host.ledLevels.length - 1], 0);
		assert.equal(firmware.status().led, "on");
	},

	"LED: a rejected command changes nothing, is logged with a safe quote and reported"() {
		const { host, firmware } = online();
		host.broker.deliver("control/room1/led", "on", 1);
		const statesBefore = host.broker.publishedTo("control/room1/led/state").length;
		host.broker.deliver("control/room1/led", Uint8Array.of(0x62, 0x6c, 0x69, 0x6e, 0x6b, 0x07), 1);
		host.broker.deliver("control/room1/led", "z".repeat(500), 1);
		assert.equal(firmware.status().led, "on");
		assert.equal(firmware.status().ledRejected, 2);
		assert.equal(host.broker.publishedTo("control/room1/led/state").length, statesBefore);
		const logged = host.logged("led", /rejected command/);
		assert.equal(logged.length, 2);
		assert.equal(logged[0]!.fields!.payload, '"blink\\x07"');
		const events = host.broker.publishedTo("sensors/room1/status/events").map((payload) => JSON.parse(payload));
		assert.equal(events.length, 2);
		assert.equal(events[0].event, "led_command_rejected");
		assert.ok(String(events[1].payload).endsWith("... (500 bytes)"));
		assert.equal(firmware.status().mqtt, "connected");
	},

	"LED: a command over the maximum packet size is refused unread, counted and reported like any other"() {
		const { host, firmware } = online({ mqtt_max_packet: "1024" });
		host.broker.deliver("control/room1/led", "on", 1);
		const statesBefore = host.broker.publishedTo("control/room1/led/state").length;
		// Every QoS, and an oversized message on another topic, each reported once.
		host.broker.deliver("control/room1/led", "o".repeat(5000), 1);
		host.broker.deliver("control/room1/led", "off" + " ".repeat(2000), 2);
		host.broker.deliver("control/room1/led", "t".repeat(1100), 0);
		assert.equal(firmware.status().led, "on");
		assert.equal(firmware.status().ledRejected, 3);
		assert.equal(host.broker.publishedTo("control/room1/led/state").length, statesBefore);
		const events = host.broker.publishedTo("sensors/room1/status/events").map((payload) => JSON.parse(payload));
		assert.deepEqual(events.map((event) => event.event), ["led_command_rejected", "led_command_rejected", "led_command_rejected"]);
		assert.ok(/PUBLISH of 50\d\d bytes exceeds the maximum packet size of 1024/.test(events[0].message), events[0].message);
		assert.equal(events[0].payload, "(not read)");
		assert.equal(host.logged("led", /rejected command: PUBLISH of/).length, 3);
		// Acknowledged all the same, and the connection kept: the next command is obeyed.
		host.broker.deliver("control/room1/led", "off", 1);
		assert.equal(firmware.status().led, "off");
		assert.equal(firmware.status().mqtt, "connected");
		assert.equal(firmware.status().ledRejected, 3);
	},

	"telemetry: publishes every interval, rounded, with seq and uptime before wall time"() {
		const { host } = online({ sensor_precision: "1", sensor_qos: "1" }, (h) => (h.temperature = 21.4567));
		host.virtual.advance(3000);
		const list = readings(host);
		assert.ok(list.length >= 4, `${list.length} readings`);
		assert.deepEqual(list.map((r) => r.seq), list.map((_, i) => i + 1));
		assert.equal(list[0]!.temperature, 21.5);
		assert.equal(list[0]!.unit, "°C");
		assert.equal(list[0]!.clock, "uptime");
		assert.equal(list[1]!.ts - list[0]!.ts, 1000);
		assert.ok(host.broker.published.filter((p) => p.topic === "sensors/room1/temp").every((p) => p.qos === 1 && !p.retain));
		host.virtual.wall = 1795000000000;
		host.virtual.advance(1000);
		const last = readings(host).pop()!;
		assert.equal(last.clock, "wall");
		// The time of the sample, which runs on a fixed 1000 ms grid.
		assert.equal(last.ts, 1795000000000 + host.virtual.now - (host.virtual.now % 1000));
	},

	"telemetry: a dead-band publishes changes only, with a heartbeat"() {
		let value = 20;
		const { host, firmware } = online({ sensor_deadband: "0.5", sensor_heartbeat: "5000" }, (h) => (h.temperature = () => value));
		host.virtual.advance(3000);
		assert.equal(readings(host).length, 1, "unchanged readings are held back");
		value = 20.6;
		host.virtual.advance(1000);
		assert.equal(readings(host).length, 2);
		host.virtual.advance(6000);
		assert.equal(readings(host).length, 3, "heartbeat");
		assert.ok((firmware.status().samples as number) >= 10);
	},

	"telemetry: a sensor fault publishes nothing, is counted, logged and reported, and polling recovers"() {
		const { host, firmware } = online();
		const before = readings(host).length;
		host.sensorFault = "throw";
		host.virtual.advance(2000);
		host.sensorFault = "nan";
		host.virtual.advance(1000);
		host.sensorFault = undefined;
		host.temperature = 400;
		host.virtual.advance(1000);
		assert.equal(readings(host).length, before, "nothing published during the fault");
		assert.equal(firmware.status().sensorFailures, 4);
		assert.equal(host.logged("sensor", /I2C read failed/).length, 2);
		assert.equal(host.logged("sensor", /NaN/).length, 1);
		assert.equal(host.logged("sensor", /outside -55\.\.150/).length, 1);
		host.temperature = 22;
		host.virtual.advance(1000);
		assert.equal(readings(host).length, before + 1);
		const events = host.broker.publishedTo("sensors/room1/status/events").map((payload) => JSON.parse(payload));
		assert.deepEqual(events.map((e) => e.event), ["sensor_fault", "sensor_fault", "sensor_fault", "sensor_fault", "sensor_recovered"]);
		assert.equal(events[3].consecutive, 4);
	},

	"telemetry: a sensor that cannot be opened is retried every interval"() {
		const { host, firmware } = online({}, (h) => (h.sensorFault = "open"));
		host.virtual.advance(2000);
		assert.ok((firmware.status().sensorFailures as number) >= 2);
		host.sensorFault = undefined;
		host.virtual.advance(1000);
		assert.equal(readings(host).length, 1);
	},

	"availability: the will is offline, retained; online is published retained after each CONNACK"() {
		const { host } = online();
		const connect = host.broker.connections[0]!.received[0]!;
		assert.ok(connect.type === 1 && connect.will !== undefined && text(connect.will.payload) === "offline" && connect.will.retain, "will");
		host.broker.current!.drop();
		host.virtual.advance(5000);
		const status = host.broker.published.filter((p) => p.topic === "sensors/room1/status");
		assert.deepEqual(status.map((p) => [text(p.payload), p.retain]), [["online", true], ["online", true]]);
		assert.equal(host.broker.wills.length, 1, "the broker sent the will when the link dropped");
	},

	"availability: online goes out before readings queued while offline"() {
		const { host } = boot();
		host.virtual.advance(200);
		const order = host.broker.published.map((p) => p.topic);
		assert.equal(order[0], "sensors/room1/status");
		assert.ok(order.indexOf("sensors/room1/temp") > 0, order.join());
	},

	"availability: an orderly shutdown publishes offline itself, then disconnects without the will"() {
		const { host, firmware } = online();
		firmware.shutdown();
		assert.deepEqual(host.broker.publishedTo("sensors/room1/status"), ["online", "offline"]);
		assert.equal(host.broker.wills.length, 0);
		assert.ok(host.exited);
		const before = host.broker.connections.length;
		host.virtual.advance(60000);
		assert.equal(host.broker.connections.length, before, "no reconnect after shutdown");
		assert.equal(host.virtual.pending, 0, "no timer left");
	},

	"Wi-Fi: a drop suspends MQTT, reconnects with backoff, and MQTT resumes"() {
		const { host, firmware } = online();
		host.setAccessPoint(false);
		assert.equal(firmware.status().wifi, "waiting");
		assert.equal(firmware.status().mqtt, "suspended");
		const attempts = host.wifiAttempts;
		host.virtual.advance(20000);
		assert.ok(host.wifiAttempts > attempts + 2, "keeps retrying");
		assert.equal(host.broker.connections.length, 1, "no MQTT attempts without Wi-Fi");
		host.setAccessPoint(true);
		host.virtual.advance(70000);
		assert.equal(firmware.status().wifi, "connected");
		assert.equal(firmware.status().mqtt, "connected");
		assert.equal(firmware.status().wifiDrops, 1);
	},

	"Wi-Fi: an access point that never answers is retried with growing delays, never abandoned"() {
		const { host, firmware } = boot({ wifi_backoff_min: "1000", wifi_backoff_max: "16000", wifi_connect_timeout: "5000" }, (h) => (h.accessPointUp = false));
		const times: number[] = [];
		let last = 0;
		for (let t = 0; t < 300000; t += 100) {
			host.virtual.advance(100);
			if (host.wifiAttempts !== last) {
				last = host.wifiAttempts;
				times.push(host.virtual.now);
			}
		}
		assert.ok(times.length > 10, `${times.length} attempts`);
		const gaps = times.slice(1).map((time, i) => time - times[i]!);
		assert.ok(gaps.every((gap) => gap >= 1000 && gap <= 16000 + 5100), gaps.join(","));
		assert.equal(firmware.status().wifi === "waiting" || firmware.status().wifi === "connecting", true);
	},

	"offline readings are kept in the outbox and delivered after reconnect with their original time"() {
		const { host } = online({ sensor_qos: "1" });
		host.broker.setUp(false);
		const offlineFrom = host.virtual.now;
		host.virtual.advance(5000);
		assert.ok(readings(host).every((r) => r.ts <= offlineFrom));
		host.broker.setUp(true);
		host.virtual.advance(10000);
		const list = readings(host);
		const seqs = list.map((r) => r.seq);
		for (let i = 1; i <= seqs[seqs.length - 1]!; i++) assert.ok(seqs.includes(i), `reading ${i} lost`);
		// Samples run on a 1000 ms grid: those from the outage carry the grid times they were taken at.
		const late = list.filter((r) => r.ts > offlineFrom && r.ts <= offlineFrom + 5000).map((r) => r.ts);
		assert.deepEqual(late, [1000, 2000, 3000, 4000, 5000]);
	},
});
