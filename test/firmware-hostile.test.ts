/*
 * The hostile-input cases (test/support/hostile.ts) against the firmware on
 * the XS host simulator, as `npm start` runs it, with mosquitto: the same
 * list test/sdk-hostile.test.ts runs in mcsim. Around them: the engine
 * still running, and every reading published, in order, without a gap.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { Mosquitto } from "../tools/rigs/mosquitto.js";
import { runDevice, type RunningDevice } from "./support/device.js";
import { itEachHostileCase, type HostileTarget } from "./support/hostile.js";
import { assertNoGaps } from "./support/readings.js";
import { waitFor } from "../tools/rigs/wait.js";

describe("hostile input on the XS host simulator (npm start)", function () {
	this.timeout(60000);
	const prefix = "hostile-xs";
	let broker: Mosquitto | undefined;
	let watcher: mqtt.MqttClient | undefined;
	let device: RunningDevice | undefined;
	const seqs: number[] = [];
	let target: HostileTarget;

	before(async function () {
		broker = await Mosquitto.start();
		watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: `${prefix}-watcher`, reconnectPeriod: 0 });
		watcher.on("message", (_topic, payload) => seqs.push((JSON.parse(payload.toString()) as { seq: number }).seq));
		await watcher.subscribeAsync(`${prefix}/temp`, { qos: 1 });
		const running = device = await runDevice("xs", {
			mqtt_port: String(broker.port), mqtt_client_id: `${prefix}-device`, sensor_interval: "300", sensor_qos: "1",
			topic_temperature: `${prefix}/temp`, topic_status: `${prefix}/status`, topic_events: `${prefix}/events`,
			topic_led_command: `${prefix}/led`, topic_led_state: `${prefix}/led/state`,
		});
		// The SDK's sockets, where churn found its abort, are in mcsim (10,000 there); 2,000 keep this suite short.
		target = { url: running.url, churn: 2000, alive: () => assert.ok(running.running(), `the XS engine exited:\n${running.board.logs?.join?.("\n") ?? ""}`) };
		await waitFor(() => seqs.length >= 2, 20000, "readings before the attacks");
	});

	after(async function () {
		await device?.stop();
		await watcher?.endAsync(true);
		await broker?.stop();
	});

	itEachHostileCase(() => target);

	it("published every reading throughout, in order, without a gap", async function () {
		const count = seqs.length;
		await waitFor(() => seqs.length >= count + 2, 20000, "readings after the attacks");
		assertNoGaps(seqs);
		target.alive();
	});
});
