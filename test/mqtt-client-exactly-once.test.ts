/*
 * QoS 2 exactly once across a resumed session, our MQTT client against a
 * real mosquitto on loopback: the PUBREC is lost with the connection (the
 * fault proxy cuts it), mosquitto re-sends the unreleased PUBLISH with
 * DUP=1 when the session resumes, and the application gets the message
 * once. Real time, waiting for events; every bound is generous.
 */
import assert from "node:assert/strict";
import { MqttClient } from "mqtt/client";
import { PacketType } from "mqtt/packets";
import { Board } from "../hosts/simulated-board/board.js";
import { createNodeHost } from "../hosts/node/host.js";
import { FaultProxy } from "../tools/rigs/fault-proxy.js";
import { waitFor } from "../tools/rigs/wait.js";
import { brokerWithClient, unique } from "./support/broker.js";

describe("QoS 2 exactly once across a resumed session, against mosquitto", function () {
	this.timeout(90000);
	const rig = brokerWithClient();

	it("QoS 2: the PUBREC lost with the connection, mosquitto re-sends the PUBLISH with DUP on the resumed session, and it is delivered once", async function () {
		const proxy = await FaultProxy.start(rig.broker.port);
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
			await rig.other.publishAsync("exactly-once/q2", "once", { qos: 2 });
			await waitFor(() => sessions.length >= 2, 10000, "the reconnect");
			assert.deepEqual(sessions, [false, true], "the second connection resumes the session");
			// mosquitto re-sends the unreleased message with DUP, then releases it on our PUBREC.
			await waitFor(() => fromBroker.some((packet) => packet.type === PacketType.Pubrel), 10000, "PUBREL after the re-sent PUBLISH");
			const publishes = fromBroker.filter((packet) => packet.type === PacketType.Publish);
			assert.deepEqual(publishes, [{ type: 3, dup: false, qos: 2 }, { type: 3, dup: true, qos: 2 }]);
			assert.equal(client.stats.duplicatesIgnored, 1);
			// A later message still arrives, once, after the first: nothing else is held back.
			await rig.other.publishAsync("exactly-once/q2", "after", { qos: 2 });
			await waitFor(() => received.length >= 2, 10000, "the later message");
			await waitFor(() => client.inflight === 0);
			assert.deepEqual(received, ["once", "after"]);
		} finally {
			client.stop();
			board.powerOff();
			await proxy.close();
		}
	});
});
