/*
 * The firmware end to end against a real mosquitto on loopback, on both
 * host simulators: the XS engine and Node. Readings arrive at the
 * configured interval; an LED command sent with mosquitto_pub switches the
 * LED and the state topic follows within 50 ms; an orderly shutdown leaves
 * `offline` behind.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import mqtt from "mqtt";
import { Mosquitto } from "../tools/rigs/mosquitto.js";
import { hostKinds, runFirmware, type RunningFirmware } from "../tools/rigs/firmware.js";
import { Board } from "../hosts/simulated-board/board.js";
import { waitFor } from "../tools/rigs/wait.js";

const run = promisify(execFile);

for (const kind of hostKinds) {
	describe(`firmware end to end on the ${kind === "xs" ? "XS host simulator" : "Node host"} against mosquitto`, function () {
		this.timeout(30000);
		let broker: Mosquitto;
		let firmware: RunningFirmware;
		let watcher: mqtt.MqttClient;
		const prefix = `e2e-${kind}`;
		const messages: { topic: string; payload: string; retain: boolean; at: number }[] = [];

		before(async function () {
			broker = await Mosquitto.start();
			watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: `${prefix}-watcher`, reconnectPeriod: 0 });
			watcher.on("message", (topic, payload, packet) => messages.push({ topic, payload: payload.toString(), retain: packet.retain, at: performance.now() }));
			await watcher.subscribeAsync(`${prefix}/#`, { qos: 1 });
			firmware = await runFirmware(kind, {
				mqtt_port: String(broker.port),
				mqtt_client_id: `${prefix}-device`,
				sensor_interval: "250",
				topic_temperature: `${prefix}/temp`,
				topic_status: `${prefix}/status`,
				topic_events: `${prefix}/events`,
				topic_led_command: `${prefix}/led`,
				topic_led_state: `${prefix}/led/state`,
			}, new Board());
		});

		after(async function () {
			await firmware?.close();
			await watcher?.endAsync(true);
			await broker?.stop();
		});

		it("announces itself online, retained", async function () {
			await waitFor(() => messages.some((m) => m.topic === `${prefix}/status` && m.payload === "online"), 10000);
		});

		it("publishes readings at the configured interval", async function () {
			const start = messages.length;
			await waitFor(() => messages.slice(start).filter((m) => m.topic === `${prefix}/temp`).length >= 6, 10000);
			const readings = messages.slice(start).filter((m) => m.topic === `${prefix}/temp`);
			const parsed = readings.map((m) => JSON.parse(m.payload) as { temperature: number; seq: number; ts: number; unit: string });
			for (const reading of parsed) {
				assert.equal(reading.unit, "°C");
				assert.ok(reading.temperature > 10 && reading.temperature < 35, `${reading.temperature}`);
			}
			const seqs = parsed.map((r) => r.seq);
			assert.deepEqual(seqs, seqs.map((_, i) => seqs[0]! + i), "consecutive sequence numbers");
			// Samples run on a fixed 250 ms grid: a late timer delays one sample, not the grid, so the
			// span of n readings is (n - 1) intervals, give or take one late sample (bounded generously).
			const span = parsed.at(-1)!.ts - parsed[0]!.ts;
			const intervals = parsed.length - 1;
			assert.ok(span >= intervals * 250 - 500 && span <= intervals * 250 + 1500, `${parsed.length} readings over ${span} ms on a 250 ms grid`);
			assert.ok(parsed.slice(1).every((r, i) => r.ts > parsed[i]!.ts), "in time order");
		});

		it("switches the LED on a mosquitto_pub command, and the state follows the pin (latency: npm run bench)", async function () {
			let ledAt = 0;
			firmware.board.led.once("write", () => (ledAt = performance.now()));
			await run("mosquitto_pub", ["-h", "127.0.0.1", "-p", String(broker.port), "-q", "1", "-t", `${prefix}/led`, "-m", "on"]);
			await waitFor(() => messages.some((m) => m.topic === `${prefix}/led/state` && m.payload === "on"), 5000);
			const state = messages.find((m) => m.topic === `${prefix}/led/state` && m.payload === "on")!;
			assert.equal(firmware.board.led.level, 1);
			assert.equal(state.retain, false, "live delivery of the retained state");
			assert.ok(ledAt > 0, "the LED pin was written");
			// After the pin, never before; the bound is generous, the latency itself is a benchmark figure.
			assert.ok(state.at >= ledAt && state.at - ledAt <= 2000, `state arrived ${Math.round(state.at - ledAt)} ms after the LED changed`);
		});

		it("rejects an unknown command without touching the LED, and reports it", async function () {
			await run("mosquitto_pub", ["-h", "127.0.0.1", "-p", String(broker.port), "-t", `${prefix}/led`, "-m", "purple"]);
			await waitFor(() => messages.some((m) => m.topic === `${prefix}/events`), 5000);
			const event = JSON.parse(messages.find((m) => m.topic === `${prefix}/events`)!.payload) as { event: string; payload: string };
			assert.equal(event.event, "led_command_rejected");
			assert.equal(event.payload, '"purple"');
			assert.equal(firmware.board.led.level, 1);
		});

		it("obeys a QoS 0 command too, mosquitto_pub's default", async function () {
			// The state was "off" once already, at boot: only a state published after the command counts.
			const before = messages.length;
			await run("mosquitto_pub", ["-h", "127.0.0.1", "-p", String(broker.port), "-t", `${prefix}/led`, "-m", "off"]);
			await waitFor(() => messages.slice(before).some((m) => m.topic === `${prefix}/led/state` && m.payload === "off"), 5000);
			assert.equal(firmware.board.led.level, 0);
		});

		it("publishes offline itself on an orderly shutdown", async function () {
			await firmware.shutdown();
			await waitFor(() => messages.some((m) => m.topic === `${prefix}/status` && m.payload === "offline"), 5000);
		});
	});
}
