/*
 * Issue 16's protocol defects, against a real mosquitto on loopback:
 * - QoS 2 exactly once across a resumed session: the PUBREC is lost with the
 *   connection (the fault proxy cuts it), mosquitto re-sends the unreleased
 *   PUBLISH with DUP=1 when the session resumes, and the application gets
 *   the message once;
 * - a burst of 1,000 LED commands while readings flow every 100 ms (the
 *   firmware on the XS host simulator): no reading is lost, and the LED
 *   ends in the right state.
 * Real time, waiting for events; every bound is generous.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { MqttClient } from "mqtt/client";
import { PacketType } from "mqtt/packets";
import { Board } from "../hosts/simulated-board/board.js";
import { createNodeHost } from "../hosts/node/host.js";
import { XsSimulator } from "../hosts/xsnap/node-side.js";
import { Mosquitto } from "./support/mosquitto.js";
import { FaultProxy } from "./support/fault-proxy.js";
import { manifestConfig } from "./support/firmware.js";
import { waitFor } from "./support/wait.js";

const unique = (): string => Math.random().toString(16).slice(2);

describe("against mosquitto: exactly once across a resumed session, and a burst of LED commands", function () {
	this.timeout(90000);
	let broker: Mosquitto;
	let other: mqtt.MqttClient;

	before(async function () {
		broker = await Mosquitto.start();
		other = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: `other-${unique()}`, reconnectPeriod: 0 });
	});
	after(async function () {
		await other?.endAsync(true);
		await broker?.stop();
	});

	it("QoS 2: the PUBREC lost with the connection, mosquitto re-sends the PUBLISH with DUP on the resumed session, and it is delivered once", async function () {
		const proxy = await FaultProxy.start(broker.port);
		const board = new Board();
		const fromBroker: { type: number; dup: boolean; qos: number }[] = [];
		proxy.onBrokerPacket = (packet) => void fromBroker.push({ type: packet[0]! >> 4, dup: (packet[0]! & 0x08) !== 0, qos: (packet[0]! >> 1) & 3 });
		const received: string[] = [];
		const sessions: boolean[] = [];
		let granted: number | undefined;
		const client = new MqttClient({
			host: createNodeHost(board), address: "127.0.0.1", port: proxy.port, clientId: `exactly-once-${unique()}`,
			cleanSession: false, keepalive: 30, backoff: { minimum: 50, maximum: 200 },
			onConnect: ({ sessionPresent }) => void sessions.push(sessionPresent),
			onMessage: (message) => void received.push(new TextDecoder().decode(message.payload)),
		});
		try {
			client.subscribe("exactly-once/q2", 2, undefined, (code) => (granted = code));
			client.start();
			await waitFor(() => granted === 2, 10000, "SUBACK granting QoS 2");
			// The client delivers at PUBLISH and answers PUBREC; the proxy loses that PUBREC with the connection.
			proxy.cutBeforeDevicePacket = PacketType.Pubrec;
			await other.publishAsync("exactly-once/q2", "once", { qos: 2 });
			await waitFor(() => sessions.length >= 2, 10000, "the reconnect");
			assert.deepEqual(sessions, [false, true], "the second connection resumes the session");
			// mosquitto re-sends the unreleased message with DUP, then releases it on our PUBREC.
			await waitFor(() => fromBroker.some((packet) => packet.type === PacketType.Pubrel), 10000, "PUBREL after the re-sent PUBLISH");
			const publishes = fromBroker.filter((packet) => packet.type === PacketType.Publish);
			assert.deepEqual(publishes, [{ type: 3, dup: false, qos: 2 }, { type: 3, dup: true, qos: 2 }]);
			assert.equal(client.stats.duplicatesIgnored, 1);
			// A later message still arrives, once, after the first: nothing else is held back.
			await other.publishAsync("exactly-once/q2", "after", { qos: 2 });
			await waitFor(() => received.length >= 2, 10000, "the later message");
			await waitFor(() => client.inflight === 0);
			assert.deepEqual(received, ["once", "after"]);
		} finally {
			client.stop();
			board.powerOff();
			await proxy.close();
		}
	});

	it("1,000 toggles in a burst while readings go every 100 ms (firmware on XS): every reading arrives, the LED ends right", async function () {
		const prefix = `burst-${unique()}`;
		const topics = { temp: `${prefix}/temp`, command: `${prefix}/led`, state: `${prefix}/led/state` };
		// A persistent subscriber, as a dashboard's database would be.
		const subscriber = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: `${prefix}-subscriber`, clean: false, reconnectPeriod: 0 });
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
				...manifestConfig(), ssid: "simulator", sensor: "simulated", mqtt_port: String(broker.port), mqtt_client_id: `${prefix}-device`,
				sensor_interval: "100", sensor_qos: "1", topic_temperature: topics.temp, topic_status: `${prefix}/status`,
				topic_events: `${prefix}/events`, topic_led_command: topics.command, topic_led_state: topics.state,
				topic_diagnostics: `${prefix}/diagnostics`,
			},
		});
		try {
			// Subscribed once a command is obeyed.
			await waitFor(async () => {
				if (states.at(-1) === "on") return true;
				await other.publishAsync(topics.command, "on", { qos: 1 });
				await new Promise((resolve) => setTimeout(resolve, 200));
				return states.at(-1) === "on";
			}, 15000, "the first command obeyed");
			const before = (await simulator.status())!;
			const commandsBefore = before.ledCommands as number;
			const readingsBefore = seqs.length;
			// As `mosquitto_pub -l` sends them: QoS 0, back to back.
			for (let i = 0; i < 1000; i++) other.publish(topics.command, "toggle", { qos: 0 });
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
