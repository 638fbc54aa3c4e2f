/*
 * What `npm start` offers around the firmware, against its embedded broker
 * (aedes) and the firmware on the XS host simulator: `npm run led`, and
 * Home Assistant discovery seen by a real MQTT client.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { startEmbeddedBroker, type EmbeddedBroker } from "../tools/embedded-broker.js";
import { sendLedCommand } from "../tools/led-command.js";
import { runFirmware, type RunningFirmware } from "../tools/rigs/firmware.js";
import { Board, simulatedMac } from "../hosts/simulated-board/board.js";
import { freePort } from "../tools/rigs/mosquitto.js";
import { waitFor } from "../tools/rigs/wait.js";
import { identityFromMac } from "firmware/identity";

describe("npm start's embedded broker, with the firmware on XS", function () {
	this.timeout(20000);
	let broker: EmbeddedBroker;
	let firmware: RunningFirmware;
	let url: URL;
	const topics = { commandTopic: "control/room1/led", stateTopic: "control/room1/led/state" };

	before(async function () {
		broker = await startEmbeddedBroker(0);
		url = new URL(`mqtt://127.0.0.1:${broker.port}`);
		firmware = await runFirmware("xs", { mqtt_port: String(broker.port), ha_discovery: "true", sensor_interval: "200" });
		const deadline = Date.now() + 10000;
		while ((await firmware.status())?.mqtt !== "connected") {
			if (Date.now() > deadline) throw new Error("the firmware did not connect to the embedded broker");
			await new Promise((resolve) => setTimeout(resolve, 20));
		}
	});

	after(async function () {
		await firmware?.close();
		await broker?.close();
	});

	it("npm run led: switches the LED and prints the state the device reports", async function () {
		assert.equal(await sendLedCommand({ command: "on", broker: url, ...topics }), "on");
		assert.equal(firmware.board.led.level, 1);
		assert.equal(await sendLedCommand({ command: "toggle", broker: url, ...topics }), "off");
		assert.equal(firmware.board.led.level, 0);
	});

	it("npm run led: refuses an unknown command before connecting, and a broker off loopback", async function () {
		await assert.rejects(sendLedCommand({ command: "purple", broker: url, ...topics }), /the device would refuse "purple": unknown command \(expected on, off, toggle/);
		await assert.rejects(sendLedCommand({ command: "on", broker: new URL("mqtt://192.0.2.1:1883"), ...topics }), /not on loopback/);
	});

	it("npm run led: accepts what the device accepts, sent as typed", async function () {
		assert.equal(await sendLedCommand({ command: "ON", broker: url, ...topics }), "on");
		assert.equal(await sendLedCommand({ command: '{"state":"off"}', broker: url, ...topics }), "off");
		assert.equal(firmware.board.led.level, 0);
	});

	it("diagnostics: retained JSON on sensors/room1/diagnostics with every field this host has", async function () {
		const client = await mqtt.connectAsync(url.href, { reconnectPeriod: 0 });
		try {
			const received: { retain: boolean; qos: number; body: Record<string, unknown> }[] = [];
			client.on("message", (_topic, payload, packet) => received.push({ retain: packet.retain, qos: packet.qos, body: JSON.parse(payload.toString()) as Record<string, unknown> }));
			await client.subscribeAsync("sensors/room1/diagnostics", { qos: 1 });
			await waitFor(() => received.length >= 1, 5000, "the retained diagnostics");
			const [first] = received;
			assert.equal(first!.retain, true);
			assert.equal(first!.qos, 0);
			assert.deepEqual(Object.keys(first!.body), ["uptime", "version", "ip", "wifi_reconnects", "mqtt_reconnects", "readings_dropped", "sensor_faults", "commands_rejected"]);
			assert.equal(first!.body.version, "0.1.0");
			assert.equal(first!.body.ip, "127.0.0.1");
			assert.ok(Number.isInteger(first!.body.uptime));
		} finally {
			await client.endAsync(true);
		}
	});

	it("simulated boards have MACs of their own (locally administered), so two simulators get two identities", function () {
		const macs = [new Board().wifi.mac, new Board().wifi.mac, firmware.board.wifi.mac];
		for (const mac of macs) assert.match(mac, /^02(:[0-9a-f]{2}){5}$/);
		assert.equal(new Set(macs.map((mac) => identityFromMac(mac))).size, 3);
		assert.equal(simulatedMac("host/1/1"), simulatedMac("host/1/1"), "stable for one machine, process and board");
	});

	it("npm run led: says so when there is no broker, or no device answering", async function () {
		const closed = new URL(`mqtt://127.0.0.1:${await freePort()}`);
		await assert.rejects(sendLedCommand({ command: "on", broker: closed, ...topics, timeout: 1000 }), /no broker at mqtt:\/\/127\.0\.0\.1:\d+\/?: .*is npm start running/);
		await assert.rejects(sendLedCommand({ command: "on", broker: url, commandTopic: "nobody/listens", stateTopic: "nobody/answers", timeout: 500 }),
			/no answer on nobody\/answers within 0\.5 s/);
	});

	it("Home Assistant discovery: a client sees every retained config message, and again on Home Assistant's birth", async function () {
		const seen: { topic: string; retain: boolean; config: Record<string, unknown> }[] = [];
		// The XS host simulator reports its IP address; it has no RSSI, reset reason or heap figures to announce.
		const sensors = ["temperature", "humidity", "ip", "uptime", "wifi_reconnects", "mqtt_reconnects", "readings_dropped", "sensor_faults", "commands_rejected"];
		// No mqtt_client_id: the simulated board's own MAC names the device, room1-xxxxxx.
		const identity = identityFromMac(firmware.board.wifi.mac)!;
		assert.match(identity, /^room1-[0-9a-f]{6}$/);
		const expected = ["homeassistant/light/" + identity + "/led/config", ...sensors.map((id) => `homeassistant/sensor/${identity}/${id}/config`)].sort();
		const client = await mqtt.connectAsync(url.href, { reconnectPeriod: 0 });
		try {
			client.on("message", (topic, payload, packet) => seen.push({ topic, retain: packet.retain, config: JSON.parse(payload.toString()) as Record<string, unknown> }));
			await client.subscribeAsync("homeassistant/+/+/+/config", { qos: 1 });
			await waitFor(() => seen.length >= expected.length, 5000);
			assert.deepEqual(seen.map((m) => m.topic).sort(), expected);
			assert.ok(seen.every((m) => m.retain), "retained");
			assert.equal(seen.filter((m) => m.config.entity_category === "diagnostic").length, sensors.length - 2);
			await client.publishAsync("homeassistant/status", "online", { qos: 1 });
			await waitFor(() => seen.length >= 2 * expected.length, 5000);
			assert.ok(seen.slice(expected.length).every((m) => !m.retain), "the answer to the birth message is live");
		} finally {
			await client.endAsync(true);
		}
	});
});
