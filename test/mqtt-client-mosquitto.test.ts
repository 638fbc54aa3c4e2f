/*
 * Our MQTT client against a real mosquitto on loopback, with MQTT.js as
 * the other party: QoS 0/1/2 both ways, retained messages, the will on an
 * abrupt loss, and redelivery into a persistent session.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { MqttClient, type InboundMessage } from "mqtt/client";
import { Board } from "../hosts/simulated-board/board.js";
import { createNodeHost } from "../hosts/node/host.js";
import { Mosquitto } from "../tools/rigs/mosquitto.js";
import { waitFor } from "../tools/rigs/wait.js";

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

describe("MQTT client end to end against mosquitto", function () {
	this.timeout(20000);
	let broker: Mosquitto;
	let board: Board;
	let other: mqtt.MqttClient;
	const clients: MqttClient[] = [];

	before(async function () {
		broker = await Mosquitto.start();
	});
	after(async function () {
		await broker.stop();
	});
	beforeEach(async function () {
		board = new Board();
		other = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: `other-${Math.random().toString(16).slice(2)}`, reconnectPeriod: 0 });
	});
	afterEach(async function () {
		for (const client of clients.splice(0)) client.stop();
		board.powerOff();
		await other.endAsync(true);
	});

	function ours(options: Partial<ConstructorParameters<typeof MqttClient>[0]> = {}): { client: MqttClient; received: InboundMessage[] } {
		const received: InboundMessage[] = [];
		const client = new MqttClient({
			host: createNodeHost(board), address: "127.0.0.1", port: broker.port, clientId: `ours-${Math.random().toString(16).slice(2)}`,
			cleanSession: true, keepalive: 30,
			onMessage: (message) => received.push({ ...message, payload: message.payload.slice() }),
			...options,
		});
		clients.push(client);
		return { client, received };
	}

	for (const qos of [0, 1, 2] as const) {
		it(`delivers a QoS ${qos} publish from our client to another client`, async function () {
			const got: { topic: string; payload: string; qos: number }[] = [];
			other.on("message", (topic, payload, packet) => got.push({ topic, payload: payload.toString(), qos: packet.qos }));
			await other.subscribeAsync("e2e/out/#", { qos: 2 });
			const { client } = ours();
			client.start();
			await waitFor(() => client.state === "connected");
			assert.equal(client.publish(`e2e/out/${qos}`, `hello ${qos}`, { qos }), true);
			await waitFor(() => got.length === 1);
			assert.deepEqual(got, [{ topic: `e2e/out/${qos}`, payload: `hello ${qos}`, qos }]);
			if (qos > 0) await waitFor(() => client.inflight === 0);
		});

		it(`receives a QoS ${qos} publish from another client`, async function () {
			const { client, received } = ours();
			let granted: number | undefined;
			client.subscribe("e2e/in/+", 2, undefined, (code) => (granted = code));
			client.start();
			await waitFor(() => client.state === "connected" && granted === 2);
			await other.publishAsync(`e2e/in/${qos}`, `to you ${qos}`, { qos });
			await waitFor(() => received.length === 1);
			assert.equal(received[0]!.topic, `e2e/in/${qos}`);
			assert.equal(text(received[0]!.payload), `to you ${qos}`);
			assert.equal(received[0]!.qos, qos);
			assert.equal(received[0]!.retain, false);
		});
	}

	it("passes the retained flag both ways", async function () {
		const { client, received } = ours();
		client.start();
		await waitFor(() => client.state === "connected");
		client.publish("e2e/retained", "kept", { qos: 1, retain: true });
		await waitFor(() => client.inflight === 0);
		const late: boolean[] = [];
		other.on("message", (_topic, _payload, packet) => late.push(packet.retain));
		await other.subscribeAsync("e2e/retained", { qos: 1 });
		await waitFor(() => late.length === 1);
		assert.deepEqual(late, [true]);
		client.subscribe("e2e/retained", 1);
		await waitFor(() => received.length === 1);
		assert.equal(received[0]!.retain, true);
		assert.equal(text(received[0]!.payload), "kept");
		// An empty retained message clears it; the parser must not stall on it.
		client.publish("e2e/retained", new Uint8Array(0), { qos: 1, retain: true });
		await waitFor(() => received.length === 2);
		assert.equal(received[1]!.payload.length, 0);
	});

	it("has the broker publish the will when the link is lost abruptly", async function () {
		const wills: string[] = [];
		other.on("message", (topic, payload) => topic === "e2e/status" && wills.push(payload.toString()));
		await other.subscribeAsync("e2e/status", { qos: 1 });
		const { client } = ours({ keepalive: 5, will: { topic: "e2e/status", payload: "offline", qos: 1, retain: false } });
		client.start();
		await waitFor(() => client.state === "connected");
		board.powerOff();
		await waitFor(() => wills.length === 1);
		assert.deepEqual(wills, ["offline"]);
	});

	it("does not publish the will after an orderly stop", async function () {
		const wills: string[] = [];
		other.on("message", (topic, payload) => topic === "e2e/status2" && wills.push(payload.toString()));
		await other.subscribeAsync("e2e/status2", { qos: 1 });
		const { client } = ours({ will: { topic: "e2e/status2", payload: "offline", qos: 1, retain: false } });
		client.start();
		await waitFor(() => client.state === "connected");
		client.stop();
		await other.publishAsync("e2e/status2", "marker", { qos: 1 });
		await waitFor(() => wills.length === 1);
		assert.deepEqual(wills, ["marker"]);
	});

	it("redelivers QoS 1 messages published while away into a persistent session", async function () {
		const clientId = `persistent-${Math.random().toString(16).slice(2)}`;
		const first = ours({ clientId, cleanSession: false });
		let granted: number | undefined;
		first.client.subscribe("e2e/persist", 1, undefined, (code) => (granted = code));
		first.client.start();
		await waitFor(() => granted === 1);
		first.client.stop();
		await new Promise((resolve) => setTimeout(resolve, 100));
		for (let i = 0; i < 3; i++) await other.publishAsync("e2e/persist", `while away ${i}`, { qos: 1 });
		let sessionPresent: boolean | undefined;
		const second = ours({ clientId, cleanSession: false, onConnect: (info) => (sessionPresent = info.sessionPresent) });
		second.client.subscribe("e2e/persist", 1);
		const client = second.client;
		client.start();
		await waitFor(() => second.received.length === 3);
		assert.equal(sessionPresent, true);
		assert.deepEqual(second.received.map((message) => text(message.payload)), ["while away 0", "while away 1", "while away 2"]);
	});
});
