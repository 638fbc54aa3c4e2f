/*
 * The firmware as the real Moddable SDK builds it for the desktop
 * simulator, run in mcsim against mosquitto on loopback. This is the
 * check that no simulator of ours can give: Moddable's own ECMA-419 socket,
 * timers, Wi-Fi simulation and XS build, and an XS abort shows as an
 * exited simulator. Skipped, saying so, where no SDK is installed.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { Mosquitto } from "../tools/rigs/mosquitto.js";
import { buildSimulatorAppFor, requireSdk, Simulator } from "../tools/rigs/mcsim.js";
import { waitFor } from "../tools/rigs/wait.js";

describe("the firmware built by the Moddable SDK, in mcsim, against mosquitto", function () {
	this.timeout(180000);
	const prefix = "mcsim";
	const topics = {
		temperature: `${prefix}/room1/temp`,
		status: `${prefix}/room1/status`,
		events: `${prefix}/room1/status/events`,
		ledCommand: `${prefix}/room1/led`,
		ledState: `${prefix}/room1/led/state`,
		diagnostics: `${prefix}/room1/diagnostics`,
	};
	let broker: Mosquitto | undefined;
	let watcher: mqtt.MqttClient | undefined;
	let simulator: Simulator | undefined;
	const messages: { topic: string; payload: string; retain: boolean }[] = [];
	const since = (index: number, topic: string): string[] => messages.slice(index).filter((m) => m.topic === topic).map((m) => m.payload);
	const alive = (): void => assert.ok(simulator!.running, `mcsim exited:\n${simulator!.trace}`);

	before(async function () {
		const moddable = requireSdk(this);
		broker = await Mosquitto.start();
		const app = await buildSimulatorAppFor(this, moddable, {
			ssid: "sim",
			// Any free port: port 80 would collide with other simulators on this computer.
			http_port: "0",
			mqtt_host: "127.0.0.1",
			mqtt_port: String(broker.port),
			mqtt_client_id: `${prefix}-device`,
			sensor_interval: "500",
			topic_temperature: topics.temperature,
			topic_status: topics.status,
			topic_events: topics.events,
			topic_led_command: topics.ledCommand,
			topic_led_state: topics.ledState,
			topic_diagnostics: topics.diagnostics,
		});
		watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: `${prefix}-watcher`, reconnectPeriod: 0 });
		watcher.on("message", (topic, payload, packet) => messages.push({ topic, payload: payload.toString(), retain: packet.retain }));
		await watcher.subscribeAsync(`${prefix}/#`, { qos: 1 });
		simulator = Simulator.start(moddable, app);
	});

	after(async function () {
		await simulator?.kill();
		await watcher?.endAsync(true);
		await broker?.stop();
	});

	it("announces itself online", async function () {
		await waitFor(() => since(0, topics.status).includes("online"), 60000, `online on ${topics.status}; trace:\n${simulator!.trace}`);
		alive();
	});

	it("publishes readings, in sequence", async function () {
		const start = messages.length;
		await waitFor(() => since(start, topics.temperature).length >= 3, 30000, `three readings; trace:\n${simulator!.trace}`);
		const readings = since(start, topics.temperature).map((payload) => JSON.parse(payload) as { temperature: number; seq: number; unit: string });
		for (const reading of readings) {
			assert.equal(reading.unit, "°C");
			assert.ok(reading.temperature > -40 && reading.temperature < 85, `${reading.temperature}`);
		}
		const seqs = readings.map((reading) => reading.seq);
		assert.deepEqual(seqs, seqs.map((_, i) => seqs[0]! + i), "consecutive sequence numbers");
		alive();
	});

	for (const [command, expected] of [["on", "on"], ["off", "off"], ["toggle", "on"], ["toggle", "off"], ['{"state":"on"}', "on"]] as const) {
		it(`obeys ${command} on the command topic: the state becomes ${expected}`, async function () {
			const start = messages.length;
			await watcher!.publishAsync(topics.ledCommand, command, { qos: 1 });
			await waitFor(() => since(start, topics.ledState).includes(expected), 10000, `${topics.ledState} = ${expected}; trace:\n${simulator!.trace}`);
			// The state comes over the network, the pin's trace over mcsim's stdout: either may arrive first.
			const level = new RegExp(`LED pin 2 ${expected === "on" ? "high" : "low"}$`);
			await waitFor(() => level.test(simulator!.lines.filter((line) => line.includes("LED pin 2")).at(-1) ?? ""), 10000, `the pin driven ${expected}; trace:\n${simulator!.trace}`);
			alive();
		});
	}

	it("rejects a bad command with an event, and keeps the LED as it was", async function () {
		const start = messages.length;
		await watcher!.publishAsync(topics.ledCommand, "purple", { qos: 1 });
		await waitFor(() => since(start, topics.events).length > 0, 10000, `an event on ${topics.events}`);
		const event = JSON.parse(since(start, topics.events)[0]!) as { event: string; payload: string };
		assert.equal(event.event, "led_command_rejected");
		assert.equal(event.payload, '"purple"');
		assert.deepEqual(since(start, topics.ledState), [], "no state change");
		alive();
	});

	it("sends diagnostics on connect with what the desktop simulator has: uptime, version, its IP address, the counters", async function () {
		await waitFor(() => since(0, topics.diagnostics).length > 0, 10000, `diagnostics on ${topics.diagnostics}; trace:\n${simulator!.trace}`);
		const diagnostics = JSON.parse(since(0, topics.diagnostics)[0]!) as Record<string, unknown>;
		assert.deepEqual(Object.keys(diagnostics), ["uptime", "version", "ip", "wifi_reconnects", "mqtt_reconnects", "readings_dropped", "sensor_faults", "commands_rejected"]);
		// Uptime from the firmware's start: the simulator's Time.ticks is epoch ms, which once gave 1.8e9 s.
		assert.ok(Number.isInteger(diagnostics.uptime) && (diagnostics.uptime as number) < 600, `uptime ${String(diagnostics.uptime)} s`);
		assert.match(diagnostics.ip as string, /^\d+\.\d+\.\d+\.\d+$/);
		alive();
	});

	it("leaves the will's offline behind when the simulator dies", async function () {
		const start = messages.length;
		await simulator!.kill();
		await waitFor(() => since(start, topics.status).includes("offline"), 10000, `offline on ${topics.status}`);
	});
});
