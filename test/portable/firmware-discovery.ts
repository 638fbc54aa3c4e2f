/*
 * Home Assistant MQTT discovery, on Node and on XS: every field checked
 * against the schema Home Assistant documents for MQTT discovery
 * (https://www.home-assistant.io/integrations/mqtt/, sensor.mqtt and
 * light.mqtt with the default schema), and when the messages go out.
 */
import { defineSuite } from "test/lib/suite";
import * as assert from "test/lib/assert";
import { FakeHost, seededRandom, text } from "test/lib/fake-host";
import { parseConfig } from "config";
import { firmwareVersion, startFirmware } from "firmware/app";
import { discoveryId, discoveryMessages } from "firmware/discovery";

type FieldType = "string" | "integer" | "boolean" | "topic" | "template" | "device";

/** Documented keys, with their types, that our entities use; `required` must be present. */
const common: Record<string, FieldType> = {
	name: "string", unique_id: "string", availability_topic: "topic", payload_available: "string",
	payload_not_available: "string", device: "device", qos: "integer",
};
const schema: Record<string, { required: string[]; fields: Record<string, FieldType> }> = {
	sensor: {
		required: ["state_topic"],
		fields: {
			...common, state_topic: "topic", value_template: "template", device_class: "string", state_class: "string",
			unit_of_measurement: "string", suggested_display_precision: "integer", expire_after: "integer", entity_category: "string",
		},
	},
	light: {
		required: ["command_topic"],
		fields: { ...common, command_topic: "topic", state_topic: "topic", payload_on: "string", payload_off: "string", optimistic: "boolean", retain: "boolean" },
	},
};
const deviceFields: Record<string, "string" | "list"> = {
	identifiers: "list", name: "string", model: "string", manufacturer: "string", sw_version: "string", hw_version: "string",
};
const sensorDeviceClasses = ["temperature", "humidity", "duration", "signal_strength", "data_size"];
/** Diagnostic entities whatever the host: uptime and the five counters. */
const alwaysDiagnostic = ["uptime", "wifi_reconnects", "mqtt_reconnects", "readings_dropped", "sensor_faults", "commands_rejected"];
/** Per announcement with a simulated sensor (it has humidity) on a host that reports nothing of itself. */
const entities = 3 + alwaysDiagnostic.length;
const stateClasses = ["measurement", "total", "total_increasing"];

function checkType(key: string, value: unknown, type: FieldType): void {
	switch (type) {
		case "string":
			return assert.ok(typeof value === "string" && value.length > 0, `${key} is a non-empty string`);
		case "integer":
			return assert.ok(Number.isInteger(value), `${key} is an integer`);
		case "boolean":
			return assert.ok(typeof value === "boolean", `${key} is a boolean`);
		case "topic":
			return assert.ok(typeof value === "string" && value.length > 0 && !/[+#\u0000]/.test(value), `${key} is a topic name`);
		case "template":
			return assert.ok(typeof value === "string" && value.startsWith("{{") && value.endsWith("}}"), `${key} is a template`);
		case "device": {
			assert.ok(value !== null && typeof value === "object", "device is an object");
			for (const [field, fieldValue] of Object.entries(value as Record<string, unknown>)) {
				const expected = deviceFields[field];
				assert.ok(expected !== undefined, `device.${field} is a documented device key`);
				if (expected === "list") assert.ok(Array.isArray(fieldValue) && fieldValue.length > 0 && fieldValue.every((v) => typeof v === "string"), `device.${field} is a list of strings`);
				else assert.ok(typeof fieldValue === "string" && fieldValue.length > 0, `device.${field} is a string`);
			}
			return;
		}
	}
}

const config = parseConfig({ ssid: "home", sensor: "simulated", ha_discovery: "true", mqtt_client_id: "room1 sensor.1" });

function boot(overrides: Record<string, string>): FakeHost {
	const host = new FakeHost();
	startFirmware(host, parseConfig({ ssid: "home", sensor: "simulated", sensor_interval: "60000", mqtt_backoff_min: "500", mqtt_backoff_max: "4000", ...overrides }), { random: seededRandom(5) });
	host.virtual.advance(200);
	return host;
}

const discoveryTopics = (host: FakeHost, prefix = "homeassistant"): string[] =>
	host.broker.published.filter((p) => p.topic.startsWith(`${prefix}/`) && p.topic.endsWith("/config")).map((p) => p.topic);

export const suite = defineSuite("Home Assistant discovery", {
	"every field of both entities is a documented key of the right type"() {
		const messages = discoveryMessages(config, config.mqtt.clientId, firmwareVersion, { resetReason: "Power-On", rssi: -60, ip: "10.0.0.2", slotsUsed: 1, chunksUsed: 2, freeHeap: 3 });
		assert.equal(messages.length, entities + 6);
		for (const { topic, payload } of messages) {
			const match = /^homeassistant\/(sensor|light)\/([a-zA-Z0-9_-]+)\/([a-zA-Z0-9_-]+)\/config$/.exec(topic);
			assert.ok(match !== null, `discovery topic ${topic} is <prefix>/<component>/<node_id>/<object_id>/config`);
			const component = match![1]!;
			const entity = JSON.parse(payload) as Record<string, unknown>;
			const { required, fields } = schema[component]!;
			for (const key of required) assert.ok(key in entity, `${component} has ${key}`);
			for (const [key, value] of Object.entries(entity)) {
				const type = fields[key];
				assert.ok(type !== undefined, `${component}.${key} is a documented key`);
				checkType(`${component}.${key}`, value, type!);
			}
		}
	},

	"the entities point at our topics, payloads and device"() {
		const [sensor, light] = discoveryMessages(config, config.mqtt.clientId, firmwareVersion).map((m) => JSON.parse(m.payload) as Record<string, unknown>);
		assert.equal(sensor!.state_topic, config.topics.temperature);
		assert.ok(sensorDeviceClasses.includes(sensor!.device_class as string));
		assert.ok(stateClasses.includes(sensor!.state_class as string));
		assert.equal(sensor!.unit_of_measurement, "°C");
		assert.equal(sensor!.value_template, "{{ value_json.temperature }}");
		assert.equal(sensor!.suggested_display_precision, config.sensor.precision);
		assert.equal(light!.command_topic, config.topics.ledCommand);
		assert.equal(light!.state_topic, config.topics.ledState);
		// The state topic carries exactly these words, and the command grammar accepts them.
		assert.deepEqual([light!.payload_on, light!.payload_off], ["on", "off"]);
		for (const entity of [sensor!, light!]) {
			assert.equal(entity.availability_topic, config.topics.status);
			assert.deepEqual([entity.payload_available, entity.payload_not_available], ["online", "offline"]);
			assert.deepEqual(entity.device, {
				identifiers: ["room1 sensor.1"], name: "Room 1 sensor", model: "room1 ESP32 temperature sensor with LED",
				manufacturer: "room1 firmware", sw_version: firmwareVersion,
			});
		}
		assert.equal(sensor!.unique_id, "room1_sensor_1_temperature");
		assert.equal(light!.unique_id, "room1_sensor_1_led");
		// Stable: the same config gives the same ids.
		assert.deepEqual(discoveryMessages(config, config.mqtt.clientId, firmwareVersion), discoveryMessages(config, config.mqtt.clientId, firmwareVersion));
		assert.equal(discoveryId("a/b+c#d é"), "a_b_c_d__");
	},

	"is off by default: nothing under the prefix, no subscription to Home Assistant"() {
		const host = boot({});
		assert.deepEqual(discoveryTopics(host), []);
		const subscribed = host.broker.connections[0]!.received.flatMap((p) => p.type === 8 ? p.subscriptions.map((s) => s.filter) : []);
		assert.ok(!subscribed.includes("homeassistant/status"), subscribed.join());
	},

	"announces retained after the CONNACK, and again after every reconnect"() {
		const host = boot({ ha_discovery: "true", ha_discovery_prefix: "ha" });
		const announced = host.broker.published.filter((p) => p.topic.startsWith("ha/"));
		assert.equal(announced.length, entities);
		assert.ok(announced.every((p) => p.retain && p.qos === 1), "retained, QoS 1");
		assert.equal(host.broker.retained.size >= 2, true);
		host.broker.current!.drop();
		host.virtual.advance(5000);
		assert.equal(discoveryTopics(host, "ha").length, 2 * entities);
	},

	"announces again when Home Assistant comes online, and only then"() {
		const host = boot({ ha_discovery: "true" });
		assert.equal(discoveryTopics(host).length, entities);
		host.broker.deliver("homeassistant/status", "offline", 1);
		host.broker.deliver("homeassistant/status", "onlinex", 1);
		assert.equal(discoveryTopics(host).length, entities);
		host.broker.deliver("homeassistant/status", "online", 1);
		// The socket takes its budget per turn: the rest goes out on the next turns.
		host.virtual.advance(100);
		assert.equal(discoveryTopics(host).length, 2 * entities);
		const config = host.broker.published.filter((p) => p.topic === "homeassistant/light/room1-dbc020/led/config").map((p) => text(p.payload));
		assert.equal(config.length, 2);
		assert.equal(config[0], config[1]);
	},

	"humidity is announced for a sensor that has it, and not for one that has not"() {
		const ids = (kind: string): string[] => discoveryMessages(parseConfig({ ssid: "home", sensor: kind, ha_discovery: "true" }), "room1-dbc020", firmwareVersion)
			.map((m) => JSON.parse(m.payload) as Record<string, unknown>).map((entity) => entity.unique_id as string);
		assert.ok(ids("sht3x").includes("room1-dbc020_humidity"), ids("sht3x").join());
		assert.ok(!ids("tmp102").includes("room1-dbc020_humidity"), ids("tmp102").join());
		const humidity = discoveryMessages(parseConfig({ ssid: "home", sensor: "sht3x" }), "room1-dbc020", firmwareVersion).map((m) => JSON.parse(m.payload) as Record<string, unknown>)
			.find((entity) => entity.device_class === "humidity")!;
		assert.equal(humidity.state_topic, "sensors/room1/temp");
		assert.equal(humidity.value_template, "{{ value_json.humidity }}");
		assert.equal(humidity.unit_of_measurement, "%");
	},

	"diagnostic entities: on the diagnostics topic, entity_category diagnostic, only for fields the host reports"() {
		const bare = discoveryMessages(config, config.mqtt.clientId, firmwareVersion, {}).map((m) => JSON.parse(m.payload) as Record<string, unknown>);
		const diagnostic = bare.filter((entity) => entity.entity_category === "diagnostic");
		assert.deepEqual(diagnostic.map((entity) => (entity.unique_id as string).replace("room1_sensor_1_", "")).sort(), [...alwaysDiagnostic].sort());
		for (const entity of diagnostic) {
			assert.equal(entity.state_topic, "sensors/room1/diagnostics");
			assert.equal(entity.availability_topic, config.topics.status);
		}
		const esp32 = discoveryMessages(config, config.mqtt.clientId, firmwareVersion, { resetReason: "Panic", rssi: -70, ip: "10.0.0.2", freeHeap: 100000 })
			.map((m) => JSON.parse(m.payload) as Record<string, unknown>);
		const rssi = esp32.find((entity) => entity.unique_id === "room1_sensor_1_rssi")!;
		assert.equal(rssi.device_class, "signal_strength");
		assert.equal(rssi.unit_of_measurement, "dBm");
		assert.equal(rssi.value_template, "{{ value_json.rssi }}");
		assert.equal(esp32.find((entity) => entity.unique_id === "room1_sensor_1_heap_free")!.value_template, "{{ value_json.heap.free }}");
		assert.ok(esp32.some((entity) => entity.unique_id === "room1_sensor_1_reset_reason"));
		assert.ok(!esp32.some((entity) => entity.unique_id === "room1_sensor_1_heap_slots_used"), "no slots entity without the figure");
	},
});
