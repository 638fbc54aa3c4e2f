/*
 * A mosquitto on loopback and another MQTT client of it (MQTT.js), started
 * once for the cases of the describe() that calls brokerWithClient.
 */
import mqtt from "mqtt";
import { Mosquitto } from "../../tools/rigs/mosquitto.js";

export interface BrokerWithClient {
	broker: Mosquitto;
	other: mqtt.MqttClient;
}

export const unique = (): string => Math.random().toString(16).slice(2);

export function brokerWithClient(): BrokerWithClient {
	const shared = {} as BrokerWithClient;
	before(async function () {
		shared.broker = await Mosquitto.start();
		shared.other = await mqtt.connectAsync(`mqtt://127.0.0.1:${shared.broker.port}`, { clientId: `other-${unique()}`, reconnectPeriod: 0 });
	});
	after(async function () {
		await shared.other?.endAsync(true);
		await shared.broker?.stop();
	});
	return shared;
}
