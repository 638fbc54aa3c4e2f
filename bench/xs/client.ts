/*
 * XS metered cost of the MQTT client's hot paths, against a host whose
 * socket and clock cost nothing, so only the client is counted.
 */
import type { Host, Socket, SocketOptions } from "platform";
import { MqttClient } from "mqtt/client";
import { encode } from "test/lib/broker-codec";
import { PacketType } from "mqtt/packets";

const topic = "sensors/room1/temp";
const payload = Uint8Array.from('{"t":21.53,"s"', (c) => c.charCodeAt(0)).subarray(0, 13);

function connectedClient(): { client: MqttClient; socket: { options?: SocketOptions } } {
	const socket: { options?: SocketOptions } = {};
	const stub: Socket = {
		read: () => undefined,
		// Takes anything, and always has room: a call that costs as little as a call can.
		write: () => 1073741824,
		close: () => {},
	};
	// The XS host simulator's engine has a native TextDecoder, as Moddable's "text/decoder" is on a device.
	const utf8 = new (globalThis as unknown as { TextDecoder: new (label: string, options: { ignoreBOM: boolean }) => { decode(bytes: Uint8Array): string } }).TextDecoder("utf-8", { ignoreBOM: true });
	const host: Host = {
		name: "bench",
		utf8,
		clock: { now: () => 1000, wallTime: () => undefined },
		timers: { set: () => ({}), clear: () => {} },
		log: () => {},
		wifi: { connect: () => {}, disconnect: () => {} },
		openSocket: (options) => {
			socket.options = options;
			return stub;
		},
		openSensor: () => ({ sample: () => ({ temperature: 21 }) }),
		openLed: () => ({ write: () => {} }),
	};
	const client = new MqttClient({ host, address: "127.0.0.1", port: 1883, clientId: "bench", keepalive: 60 });
	client.start();
	// Connected, with a socket whose budget never runs out: only the client is measured.
	socket.options!.onWritable(1073741824);
	client.session.receive(1000, encode({ type: PacketType.Connack, sessionPresent: false, returnCode: 0 }));
	if (client.state !== "connected") throw new Error("bench client did not connect");
	return { client, socket };
}

export const benches = {
	"QoS 0 publish: 13-byte payload to sensors/room1/temp, bytes built and written": () => {
		const { client } = connectedClient();
		client.publish(topic, payload);
		return () => {
			client.publish(topic, payload);
		};
	},
	"QoS 1 publish and its PUBACK, 13-byte payload": () => {
		const { client } = connectedClient();
		const acks: Uint8Array[] = [];
		for (let id = 1; id <= 65535; id++) acks.push(encode({ type: PacketType.Puback, packetId: id }));
		let next = 0;
		return () => {
			client.publish(topic, payload, { qos: 1 });
			client.session.receive(1000, acks[next++]!);
		};
	},
	"inbound QoS 0 PUBLISH: 2 bytes on control/room1/led, parsed, decoded, dispatched": () => {
		const { client } = connectedClient();
		let received = 0;
		client.subscribe("control/room1/led", 1, () => void received++);
		const chunk = encode({ type: PacketType.Publish, topic: "control/room1/led", payload: Uint8Array.of(0x6f, 0x6e), qos: 0, retain: false, dup: false });
		return () => {
			client.session.receive(1000, chunk);
		};
	},
};

/**
 * Ceilings: Moddable's own ECMA-419 client measures about 640 and 480. The
 * QoS 0 one was 320 while this bench never attached its socket; writing
 * within the socket's budget was allowed 10 % over the 306 measured then.
 */
export const targets: Record<string, number> = {
	"QoS 0 publish: 13-byte payload to sensors/room1/temp, bytes built and written": 337,
	"inbound QoS 0 PUBLISH: 2 bytes on control/room1/led, parsed, decoded, dispatched": 240,
};
