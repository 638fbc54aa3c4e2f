/*
 * A burst of 1,000 LED commands while readings flow every 100 ms: the
 * firmware on the XS host simulator against a real mosquitto on loopback,
 * the commands sent back to back as `mosquitto_pub -l` sends them. No
 * reading is lost, the outbox drops nothing, and the LED and its state
 * topic end right. Real time, waiting for events; every bound is generous.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { Board } from "../hosts/simulated-board/board.js";
import { XsSimulator } from "../hosts/xsnap/node-side.js";
import { manifestConfig } from "../tools/rigs/firmware.js";
import { waitFor } from "../tools/rigs/wait.js";
import { brokerWithClient, unique } from "./support/broker.js";

describe("a burst of LED commands while readings flow (XS host simulator, mosquitto)", function () {
	this.timeout(90000);
	const rig = brokerWithClient();

	it("1,000 toggles in a burst while readings go every 100 ms (firmware on XS): every reading arrives, the LED ends right", async function () {
		const prefix = `burst-${unique()}`;
		const topics = { temp: `${prefix}/temp`, command: `${prefix}/led`, state: `${prefix}/led/state` };
		// A persistent subscriber, as a dashboard's database would be.
		const subscriber = await mqtt.connectAsync(`mqtt://127.0.0.1:${rig.broker.port}`, { clientId: `${prefix}-subscriber`, clean: false, reconnectPeriod: 0 });
		const seqs: number[] = [];
		const states: string[] = [];
		subscriber.on("message", (topic, payload) => {
			if (topic === topics.temp) seqs.push((JSON.parse(payload.toString()) as { seq: number }).seq);
			else if (topic === topics.state) states.push(payload.toString());
		});
		await subscriber.subscribeAsync([topics.temp, topics.state], { qos: 1 });
		const board = new Board();
		const simulator = await XsSimulator.start({
			board,
			config: {
				...manifestConfig(), ssid: "simulator", sensor: "simulated", mqtt_port: String(rig.broker.port), mqtt_client_id: `${prefix}-device`,
				sensor_interval: "100", sensor_qos: "1", topic_temperature: topics.temp, topic_status: `${prefix}/status`,
				topic_events: `${prefix}/events`, topic_led_command: topics.command, topic_led_state: topics.state,
				topic_diagnostics: `${prefix}/diagnostics`,
			},
		});
		try {
			// Subscribed once a command is obeyed.
			await waitFor(async () => {
				if (states.at(-1) === "on") return true;
				await rig.other.publishAsync(topics.command, "on", { qos: 1 });
				await new Promise((resolve) => setTimeout(resolve, 200));
				return states.at(-1) === "on";
			}, 15000, "the first command obeyed");
			const before = (await simulator.status())!;
			const commandsBefore = before.ledCommands as number;
			const readingsBefore = seqs.length;
			// As `mosquitto_pub -l` sends them: QoS 0, back to back.
			for (let i = 0; i < 1000; i++) rig.other.publish(topics.command, "toggle", { qos: 0 });
			await waitFor(async () => ((await simulator.status())!.ledCommands as number) === commandsBefore + 1000, 60000, "all 1,000 toggles handled", 50);
			const lastDuringBurst = Math.max(...seqs);
			// Readings after the burst, so that any still queued during it has had its chance.
			await waitFor(() => seqs.length > readingsBefore && Math.max(...seqs) >= lastDuringBurst + 10, 30000, "readings after the burst", 20);
			const status = (await simulator.status())!;
			// An even number of toggles from "on": on.
			assert.equal(status.led, "on");
			await waitFor(() => states.at(-1) === "on", 10000, "the last state published");
			assert.equal(status.dropped, 0, "the outbox dropped nothing");
			const seen = [...new Set(seqs)].sort((a, b) => a - b);
			const missing: number[] = [];
			for (let seq = seen[0]!; seq <= seen.at(-1)!; seq++) if (!seen.includes(seq)) missing.push(seq);
			assert.deepEqual(missing, [], `readings lost during the burst (seq ${seen[0]} to ${seen.at(-1)})`);
			assert.ok(seen.length >= 10, `${seen.length} readings`);
			// Last value wins: a burst costs a few state messages, not 1,000 outbox places.
			assert.ok(states.length < 1000, `${states.length} state messages`);
		} finally {
			await simulator.close();
			await subscriber.endAsync(true);
		}
	});
});
