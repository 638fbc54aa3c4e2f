/*
 * Home Assistant MQTT discovery: retained config messages that make the
 * device appear in Home Assistant as a temperature sensor (and a humidity
 * sensor, with an SHT3x), a light, and diagnostic entities (uptime, signal,
 * heap, counters: `entity_category: diagnostic`, as ESPHome files them), with
 * no YAML. Each entity follows the device's availability (the status topic)
 * and carries one device block, so both show up under one device.
 *
 * Topics: <prefix>/<component>/<node id>/<object id>/config, where the node
 * id is the device's identity (the client id) with anything outside [a-zA-Z0-9_-] replaced by "_".
 * Keys are spelled out, not abbreviated, so the payloads read like the
 * documentation (https://www.home-assistant.io/integrations/mqtt/).
 */
import type { FirmwareConfig } from "config";
import type { HostDiagnostics, SensorKind } from "platform";

/** Sensors that measure humidity too: the SHT3x, and the simulators' stand-in. */
export const humidityKinds: readonly SensorKind[] = ["sht3x", "simulated", "simulated-faulty"];

interface DiagnosticEntity {
	/** The field in the diagnostics JSON; dots reach into an object. */
	field: string;
	name: string;
	/** Only if the host reports this HostDiagnostics field. */
	needs?: keyof HostDiagnostics;
	device_class?: string;
	unit?: string;
	state_class?: string;
}

const diagnosticEntities: readonly DiagnosticEntity[] = [
	{ field: "uptime", name: "Uptime", device_class: "duration", unit: "s", state_class: "total_increasing" },
	{ field: "rssi", name: "Wi-Fi signal", needs: "rssi", device_class: "signal_strength", unit: "dBm", state_class: "measurement" },
	{ field: "ip", name: "IP address", needs: "ip" },
	{ field: "reset_reason", name: "Reset reason", needs: "resetReason" },
	{ field: "heap.free", name: "Free heap", needs: "freeHeap", device_class: "data_size", unit: "B", state_class: "measurement" },
	{ field: "heap.slots_used", name: "XS slots used", needs: "slotsUsed", device_class: "data_size", unit: "B", state_class: "measurement" },
	{ field: "heap.chunks_used", name: "XS chunks used", needs: "chunksUsed", device_class: "data_size", unit: "B", state_class: "measurement" },
	{ field: "wifi_reconnects", name: "Wi-Fi reconnects", state_class: "total_increasing" },
	{ field: "mqtt_reconnects", name: "MQTT reconnects", state_class: "total_increasing" },
	{ field: "readings_dropped", name: "Readings dropped", state_class: "total_increasing" },
	{ field: "sensor_faults", name: "Sensor faults", state_class: "total_increasing" },
	{ field: "commands_rejected", name: "Commands rejected", state_class: "total_increasing" },
];

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

/** `platform`: what the host reports, so only entities that will have a value are announced. */
export function discoveryMessages(config: FirmwareConfig, identity: string, softwareVersion: string, platform: HostDiagnostics = {}): DiscoveryMessage[] {
	const { topics, homeAssistant } = config;
	const node = discoveryId(identity);
	const device = {
		identifiers: [identity],
		name: homeAssistant.deviceName,
		model: "room1 ESP32 temperature sensor with LED",
		manufacturer: "room1 firmware",
		sw_version: softwareVersion,
	};
	const availability = { availability_topic: topics.status, payload_available: "online", payload_not_available: "offline" };
	/** One entity's config message: its own fields between its identity and the shared availability and device. */
	const entity = (component: string, id: string, name: string, fields: Record<string, unknown>): DiscoveryMessage => ({
		topic: `${homeAssistant.prefix}/${component}/${node}/${id}/config`,
		payload: JSON.stringify({ name, unique_id: `${node}_${id}`, ...fields, ...availability, device }),
	});
	const humidity: DiscoveryMessage[] = humidityKinds.includes(config.sensor.kind) ? [entity("sensor", "humidity", "Humidity", {
		device_class: "humidity",
		state_class: "measurement",
		unit_of_measurement: "%",
		suggested_display_precision: 1,
		state_topic: topics.temperature,
		value_template: "{{ value_json.humidity }}",
	})] : [];
	const diagnostics = diagnosticEntities.filter((diagnostic) => !diagnostic.needs || platform[diagnostic.needs] !== undefined).map((diagnostic) => entity(
		"sensor", diagnostic.field.replace(/\./g, "_"), diagnostic.name, {
			entity_category: "diagnostic",
			...(diagnostic.device_class ? { device_class: diagnostic.device_class } : {}),
			...(diagnostic.state_class ? { state_class: diagnostic.state_class } : {}),
			...(diagnostic.unit ? { unit_of_measurement: diagnostic.unit } : {}),
			state_topic: topics.diagnostics,
			value_template: `{{ value_json.${diagnostic.field} }}`,
		}));
	return [
		entity("sensor", "temperature", "Temperature", {
			device_class: "temperature",
			state_class: "measurement",
			unit_of_measurement: "°C",
			suggested_display_precision: config.sensor.precision,
			state_topic: topics.temperature,
			value_template: "{{ value_json.temperature }}",
		}),
		entity("light", "led", "LED", {
			command_topic: topics.ledCommand,
			state_topic: topics.ledState,
			payload_on: "on",
			payload_off: "off",
			optimistic: false,
			qos: 1,
		}),
		...humidity,
		...diagnostics,
	];
}
