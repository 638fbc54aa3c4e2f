/*
 * Home Assistant MQTT discovery: retained config messages that make the
 * device appear in Home Assistant as a temperature sensor and a light, with
 * no YAML. Each entity follows the device's availability (the status topic)
 * and carries one device block, so both show up under one device.
 *
 * Topics: <prefix>/<component>/<node id>/<object id>/config, where the node
 * id is the client id with anything outside [a-zA-Z0-9_-] replaced by "_".
 * Keys are spelled out, not abbreviated, so the payloads read like the
 * documentation (https://www.home-assistant.io/integrations/mqtt/).
 */
import type { FirmwareConfig } from "config";

export interface DiscoveryMessage {
	topic: string;
	payload: string;
}

/** Home Assistant accepts only these characters in node and object ids. */
export function discoveryId(text: string): string {
	return text.replace(/[^a-zA-Z0-9_-]/g, "_");
}

/** The status topic Home Assistant publishes its birth message ("online") to. */
export function homeAssistantStatusTopic(config: FirmwareConfig): string {
	return `${config.homeAssistant.prefix}/status`;
}

export function discoveryMessages(config: FirmwareConfig, softwareVersion: string): DiscoveryMessage[] {
	const { topics, homeAssistant, mqtt } = config;
	const node = discoveryId(mqtt.clientId);
	const device = {
		identifiers: [mqtt.clientId],
		name: homeAssistant.deviceName,
		model: "room1 ESP32 temperature sensor with LED",
		manufacturer: "room1 firmware",
		sw_version: softwareVersion,
	};
	const availability = { availability_topic: topics.status, payload_available: "online", payload_not_available: "offline" };
	return [
		{
			topic: `${homeAssistant.prefix}/sensor/${node}/temperature/config`,
			payload: JSON.stringify({
				name: "Temperature",
				unique_id: `${node}_temperature`,
				device_class: "temperature",
				state_class: "measurement",
				unit_of_measurement: "°C",
				suggested_display_precision: config.sensor.precision,
				state_topic: topics.temperature,
				value_template: "{{ value_json.temperature }}",
				...availability,
				device,
			}),
		},
		{
			topic: `${homeAssistant.prefix}/light/${node}/led/config`,
			payload: JSON.stringify({
				name: "LED",
				unique_id: `${node}_led`,
				command_topic: topics.ledCommand,
				state_topic: topics.ledState,
				payload_on: "on",
				payload_off: "off",
				optimistic: false,
				qos: 1,
				...availability,
				device,
			}),
		},
	];
}
