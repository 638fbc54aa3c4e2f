/*
 * What the device tells about itself, on a virtual clock, on Node and on
 * XS: the diagnostics message (on every connect and every interval,
 * retained, QoS 0, each field the host has), humidity, the calibration
 * offset, the SNTP server, simulated-faulty, unknown config keys, and the
 * wording of the log lines a newcomer reads first.
 */
import { defineSuite } from "test/lib/suite";
import * as assert from "test/lib/assert";
import { FakeHost, seededRandom } from "test/lib/fake-host";
import { ConfigError, nearestKey, parseConfig } from "config";
import { firmwareVersion, startFirmware } from "firmware/app";
import { diagnosticsPayload } from "firmware/diagnostics";
import { SimulatedSensor, simulatedFaultEvery } from "simulated/sensor";
import { Backoff } from "backoff";
import type { FirmwareHandle } from "platform";

function boot(overrides: Record<string, string> = {}, prepare?: (host: FakeHost) => void): { host: FakeHost; firmware: FirmwareHandle } {
	const host = new FakeHost();
	prepare?.(host);
	const config = parseConfig({ ssid: "home", sensor: "simulated", sensor_interval: "1000", mqtt_backoff_min: "500", mqtt_backoff_max: "4000", ...overrides });
	return { host, firmware: startFirmware(host, config, { random: seededRandom(3) }) };
}

const diagnostics = (host: FakeHost): Record<string, unknown>[] => host.broker.publishedTo("sensors/room1/diagnostics").map((payload) => JSON.parse(payload) as Record<string, unknown>);

function problemsOf(run: () => unknown): string[] {
	try {
		run();
	} catch (error) {
		if (error instanceof ConfigError) return [...error.problems];
		throw error;
	}
	return [];
}

export const suite = defineSuite("what the device tells", {
	"diagnostics: one on every connect and one every interval, retained at QoS 0, with every field the host has"() {
		const { host } = boot({ diagnostics_interval: "60000" }, (h) => (h.platform = { resetReason: "Panic", rssi: -67, ip: "192.168.1.23", slotsUsed: 9000, chunksUsed: 20000, freeHeap: 120000 }));
		host.virtual.advance(200);
		assert.equal(diagnostics(host).length, 1, "one on the first connect");
		const sent = host.broker.published.filter((p) => p.topic === "sensors/room1/diagnostics");
		assert.ok(sent.every((p) => p.retain && p.qos === 0), "retained, QoS 0");
		assert.deepEqual(diagnostics(host)[0], {
			uptime: 0, version: firmwareVersion, reset_reason: "Panic", rssi: -67, ip: "192.168.1.23",
			heap: { slots_used: 9000, chunks_used: 20000, free: 120000 },
			wifi_reconnects: 0, mqtt_reconnects: 0, readings_dropped: 0, sensor_faults: 0, commands_rejected: 0,
		});
		host.virtual.advance(60000);
		assert.equal(diagnostics(host).length, 2, "one a minute");
		assert.equal(diagnostics(host)[1]!.uptime, 60);
		// A reconnect sends one at once, and the next a whole interval after it.
		host.broker.current!.drop();
		for (let waited = 0; diagnostics(host).length < 3; waited += 100) {
			assert.ok(waited < 5000, "a reconnect within the backoff");
			host.virtual.advance(100);
		}
		assert.equal(diagnostics(host)[2]!.mqtt_reconnects, 1);
		host.virtual.advance(59000);
		assert.equal(diagnostics(host).length, 3, "the interval restarts at the connect");
		host.virtual.advance(1100);
		assert.equal(diagnostics(host).length, 4);
	},

	"diagnostics: the counters follow what happened, and a host without figures sends none of them"() {
		const { host } = boot({ diagnostics_interval: "10000" });
		host.virtual.advance(200);
		host.sensorFault = "throw";
		host.virtual.advance(2000);
		host.sensorFault = undefined;
		host.broker.deliver("control/room1/led", "purple", 1);
		host.setAccessPoint(false);
		host.setAccessPoint(true);
		host.virtual.advance(20000);
		const last = diagnostics(host).pop()!;
		assert.deepEqual(Object.keys(last), ["uptime", "version", "wifi_reconnects", "mqtt_reconnects", "readings_dropped", "sensor_faults", "commands_rejected"]);
		assert.equal(last.sensor_faults, 2);
		assert.equal(last.commands_rejected, 1);
		assert.equal(last.wifi_reconnects, 1);
	},

	"diagnostics: diagnostics_interval=0 sends one per connect only; a value under a second is refused"() {
		const { host } = boot({ diagnostics_interval: "0" });
		host.virtual.advance(3600000);
		assert.equal(diagnostics(host).length, 1);
		assert.deepEqual(problemsOf(() => parseConfig({ ssid: "home", diagnostics_interval: "500" })), ["diagnostics_interval=500 must be 0 (off) or at least 1000 ms"]);
		assert.equal(diagnosticsPayload(1999, "1", {}, { wifiReconnects: 1, mqttReconnects: 2, readingsDropped: 3, sensorFaults: 4, commandsRejected: 5 }),
			'{"uptime":1,"version":"1","wifi_reconnects":1,"mqtt_reconnects":2,"readings_dropped":3,"sensor_faults":4,"commands_rejected":5}');
	},

	"humidity: in the reading when the sensor has it, one decimal; absent otherwise"() {
		const { host } = boot({}, (h) => (h.humidity = 41.26));
		host.virtual.advance(200);
		const reading = JSON.parse(host.broker.publishedTo("sensors/room1/temp")[0]!) as Record<string, unknown>;
		assert.equal(reading.humidity, 41.3);
		const plain = boot();
		plain.host.virtual.advance(200);
		assert.ok(!("humidity" in (JSON.parse(plain.host.broker.publishedTo("sensors/room1/temp")[0]!) as Record<string, unknown>)));
	},

	"sensor_offset: added to every temperature before rounding; validated like every key"() {
		const { host } = boot({ sensor_offset: "-1.25", sensor_precision: "2" }, (h) => (h.temperature = 22.5));
		host.virtual.advance(200);
		assert.equal((JSON.parse(host.broker.publishedTo("sensors/room1/temp")[0]!) as { temperature: number }).temperature, 21.25);
		assert.deepEqual(problemsOf(() => parseConfig({ ssid: "home", sensor_offset: "hot" })), ['sensor_offset="hot" must be a number -20-20']);
		assert.deepEqual(problemsOf(() => parseConfig({ ssid: "home", sensor_offset: "25" })), ['sensor_offset="25" must be a number -20-20']);
	},

	"sntp_server: asked of the host on every Wi-Fi connect; must be a host name"() {
		const { host } = boot({ sntp_server: "time.cloudflare.com" });
		host.virtual.advance(200);
		assert.deepEqual(host.clockRequests, ["time.cloudflare.com"]);
		host.setAccessPoint(false);
		host.setAccessPoint(true);
		host.virtual.advance(10000);
		assert.deepEqual(host.clockRequests, ["time.cloudflare.com", "time.cloudflare.com"]);
		assert.equal(parseConfig({ ssid: "home" }).time.sntpServer, "pool.ntp.org");
		assert.deepEqual(problemsOf(() => parseConfig({ ssid: "home", sntp_server: "ntp server!" })), ['sntp_server="ntp server!" must be a host name or IPv4 address (letters, digits, dots and hyphens)']);
	},

	"simulated-faulty: every third sample fails, alternately an exception and NaN, and the firmware recovers each time"() {
		const sensor = new SimulatedSensor({ seed: 7, faulty: true, time: () => 0 });
		const outcomes: string[] = [];
		for (let i = 0; i < 3 * simulatedFaultEvery; i++) {
			try {
				const { temperature, humidity } = sensor.sample();
				outcomes.push(Number.isNaN(temperature) ? "nan" : temperature > 10 && temperature < 35 && humidity > 0 && humidity < 100 ? "ok" : "bad");
			} catch {
				outcomes.push("throw");
			}
		}
		assert.deepEqual(outcomes, ["ok", "ok", "throw", "ok", "ok", "nan", "ok", "ok", "throw"]);
		const healthy = new SimulatedSensor({ seed: 7, faulty: false, time: () => 0 });
		for (let i = 0; i < 10; i++) assert.ok(!Number.isNaN(healthy.sample().temperature));
	},

	"config on a device: a misspelt key of ours is refused with the nearest one; the SDK's and a board's keys pass"() {
		assert.deepEqual(problemsOf(() => parseConfig({ ssid: "home", mqtt_prot: "1884" })), ["unknown key mqtt_prot; did you mean mqtt_port?"]);
		assert.deepEqual(problemsOf(() => parseConfig({ ssid: "home", sensor_intreval: "5" })), ["unknown key sensor_intreval; did you mean sensor_interval?"]);
		assert.deepEqual(problemsOf(() => parseConfig({ ssid: "home", mqtt_colour: "blue" })), ["unknown key mqtt_colour (docs/configuration.md lists every key)"]);
		assert.deepEqual(problemsOf(() => parseConfig({ ssid: "home", pasword: "x" })), ["unknown key pasword; did you mean password?"]);
		// mc/config on a device: manifest_net's sntp, a board's screen and lcd_pin, and the like.
		parseConfig({ ssid: "home", sntp: "pool.ntp.org", screen: "ili9341", rotation: 90, lcd_pin: 5, led: "x", format: "rgb565le" });
		// Strict (npm start builds the whole table): nothing unknown passes.
		assert.deepEqual(problemsOf(() => parseConfig({ ssid: "home", screen: "x" }, { strict: true })), ["unknown key screen (docs/configuration.md lists every key)"]);
		assert.equal(nearestKey("MQTT_PORT"), "mqtt_port");
		assert.equal(nearestKey("banana"), undefined);
	},

	"logs: a reading is queued (not published), with its published text; one line per failed connect"() {
		const { host } = boot({ sensor_precision: "2" }, (h) => {
			h.temperature = 21.1;
			h.broker.setUp(false);
		});
		host.virtual.advance(3000);
		const reading = host.logged("telemetry", /./)[0]!;
		assert.equal(reading.message, "reading 1 queued: 21.10 °C");
		assert.equal(host.logged("telemetry", /published/).length, 0);
		const attempts = host.broker.connections.length;
		assert.ok(attempts >= 2, `${attempts} attempts`);
		const mqttLines = host.logs.filter((entry) => entry.tag === "mqtt" && entry.level !== "info");
		assert.equal(mqttLines.length, attempts, mqttLines.map((entry) => `${entry.level} ${entry.message}`).join(" | "));
		assert.ok(mqttLines.every((entry) => entry.level === "warn" && /^waiting: .*; retrying in \d+ ms$/.test(entry.message)));
	},

	"logs: a shutdown says offline was published only when it was"() {
		const never = boot({}, (h) => h.broker.setUp(false));
		never.host.virtual.advance(3000);
		never.firmware.shutdown();
		assert.equal(never.host.logged("firmware", /^stopped/)[0]!.message, "stopped: never connected, so nothing to publish");
		const online = boot();
		online.host.virtual.advance(200);
		online.firmware.shutdown();
		assert.equal(online.host.logged("firmware", /^stopped/)[0]!.message, "stopped: offline published");
		const lost = boot();
		lost.host.virtual.advance(200);
		lost.host.broker.setUp(false);
		lost.host.broker.current?.drop();
		lost.host.virtual.advance(100);
		lost.firmware.shutdown();
		assert.equal(lost.host.logged("firmware", /^stopped/)[0]!.message, "stopped while disconnected: the broker publishes the will (offline)");
	},

	"jitter: a host's random source is used when no seed is injected, and different seeds give different delays"() {
		const delays = (seed: number): number[] => {
			const backoff = new Backoff({ minimum: 1000, maximum: 60000, factor: 2 }, seededRandom(seed));
			return [1, 2, 3, 4, 5, 6].map(() => backoff.next());
		};
		assert.deepEqual(delays(11), delays(11));
		assert.ok(JSON.stringify(delays(11)) !== JSON.stringify(delays(12)), "another seed, other delays");
		const host = new FakeHost();
		let drawn = 0;
		(host as unknown as { random: () => number }).random = () => (drawn++, 0.5);
		host.broker.setUp(false);
		startFirmware(host, parseConfig({ ssid: "home", sensor: "simulated", mqtt_backoff_min: "500", mqtt_backoff_max: "4000" }));
		host.virtual.advance(10000);
		assert.ok(drawn >= 2, `the host's random source drew ${drawn} times`);
	},
});
