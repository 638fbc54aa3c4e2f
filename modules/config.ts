/*
 * The one place configuration is parsed and validated.
 *
 * Input is Moddable's `mc/config`: the manifest's "config" block, with any
 * `key=value` from the mcconfig command line laid over it. Command-line
 * values always arrive as strings, manifest values may be strings, numbers
 * or booleans, so every key is parsed from text. Every bad key is reported
 * at once, each naming the key, the value and what was expected, and the
 * firmware does not start half-configured.
 *
 * A key this firmware does not know is refused with the nearest known one
 * ("unknown key mqtt_prot; did you mean mqtt_port?"). `mc/config` also
 * carries the SDK's and the board's own keys, so on a device only a key
 * that looks like ours (one of our prefixes, or a near miss of a key) is
 * refused; `npm start`, which builds the whole table itself, refuses any.
 *
 * `configKeys` is also the documentation: docs/configuration.md's table follows it,
 * and a test checks that manifest.json's defaults agree with it.
 */
import { validateTopicFilter, validateTopicName } from "mqtt/topic";
import type { SensorKind } from "platform";
import { isIPv4, literalAddress } from "net/ipv4";

type Kind =
	| { type: "string"; secret?: boolean; allowEmpty?: boolean; maxLength?: number }
	| { type: "integer"; min: number; max: number }
	| { type: "number"; min: number; max: number }
	| { type: "boolean" }
	| { type: "choice"; values: readonly string[] }
	| { type: "topic" }
	| { type: "filter" }
	| { type: "ipv4-list" }
	| { type: "hostname" };

export interface ConfigKey {
	key: string;
	default: string;
	meaning: string;
	kind: Kind;
}

const integer = (min: number, max: number): Kind => ({ type: "integer", min, max });
const text = (allowEmpty = false, secret = false, maxLength?: number): Kind => ({ type: "string", allowEmpty, secret, ...(maxLength ? { maxLength } : {}) });

/**
 * The page's password travels in every signed request's head, as base64 of
 * "user:password" (up to 4 bytes a character): 64 characters keep a signed
 * request well inside the head limit (web/http, 2,048 bytes). Tasmota's
 * and ESPHome's web passwords are bounded likewise in practice.
 */
export const maxHttpPasswordLength = 64;
const boolean: Kind = { type: "boolean" };
const topic: Kind = { type: "topic" };

export const sensorKinds: readonly SensorKind[] = ["tmp102", "sht3x", "ds18b20", "ntc", "simulated", "simulated-faulty"];

export const configKeys: readonly ConfigKey[] = [
	{ key: "ssid", default: "", meaning: "Wi-Fi network name (empty: the ESP32 opens the setup access point <identity>-setup)", kind: text(true) },
	{ key: "password", default: "", meaning: "Wi-Fi password (empty for an open network)", kind: text(true, true) },
	{ key: "wifi_connect_timeout", default: "20000", meaning: "ms to wait for an IP address before retrying", kind: integer(1000, 600000) },
	{ key: "wifi_backoff_min", default: "1000", meaning: "first Wi-Fi retry delay bound, ms", kind: integer(100, 600000) },
	{ key: "wifi_backoff_max", default: "60000", meaning: "longest Wi-Fi retry delay, ms", kind: integer(100, 3600000) },
	{ key: "wifi_setup_after", default: "300000", meaning: "ms without a network before the setup access point <identity>-setup opens (ESP32; 0: never; with no ssid it opens at once)", kind: integer(0, 86400000) },
	{ key: "mqtt_host", default: "127.0.0.1", meaning: "broker host name or IPv4 address", kind: { type: "hostname" } },
	{ key: "dns_servers", default: "", meaning: "DNS servers for mqtt_host, comma-separated IPv4 (empty: the network's own)", kind: { type: "ipv4-list" } },
	{ key: "dns_timeout", default: "5000", meaning: "ms to wait for mqtt_host to resolve; counts within mqtt_connack_timeout", kind: integer(100, 600000) },
	{ key: "mqtt_port", default: "1883", meaning: "broker port (8883 is usual for TLS)", kind: integer(1, 65535) },
	{ key: "mqtt_client_id", default: "", meaning: "MQTT client id, also the device's identity: Home Assistant device, setup access point, mDNS name (empty: room1- and the MAC's last three bytes, e.g. room1-dbc020, unique per device)", kind: text(true) },
	{ key: "mqtt_username", default: "", meaning: "broker user name (empty: none)", kind: text(true) },
	{ key: "mqtt_password", default: "", meaning: "broker password (empty: none); never logged", kind: text(true, true) },
	{ key: "mqtt_tls", default: "false", meaning: "connect over TLS (mqtts)", kind: boolean },
	{ key: "mqtt_tls_ca", default: "", meaning: "PEM of the CA that signs the broker's certificate (empty: the host's trust store)", kind: text(true) },
	{ key: "mqtt_tls_server_name", default: "", meaning: "name the broker's certificate must carry (empty: mqtt_host)", kind: text(true) },
	{ key: "mqtt_keepalive", default: "30", meaning: "keepalive, s; a dead link is seen within keepalive + ping timeout (0: off)", kind: integer(0, 65535) },
	{ key: "mqtt_ping_timeout", default: "5000", meaning: "ms to wait for PINGRESP before declaring the link dead", kind: integer(100, 600000) },
	{ key: "mqtt_connack_timeout", default: "10000", meaning: "ms from opening the connection to CONNACK", kind: integer(100, 600000) },
	{ key: "mqtt_clean_session", default: "false", meaning: "start each connection with a clean session (false keeps QoS 1 across reconnects)", kind: boolean },
	{ key: "mqtt_backoff_min", default: "1000", meaning: "reconnect delay floor and first bound, ms", kind: integer(10, 3600000) },
	{ key: "mqtt_backoff_max", default: "60000", meaning: "longest reconnect delay, ms; also the wait after a refusal for bad credentials", kind: integer(10, 3600000) },
	{ key: "mqtt_backoff_factor", default: "2", meaning: "growth of the reconnect bound per failure", kind: { type: "number", min: 1, max: 10 } },
	{ key: "mqtt_outbox_messages", default: "100", meaning: "most messages held while offline", kind: integer(1, 100000) },
	{ key: "mqtt_outbox_bytes", default: "16384", meaning: "most bytes held while offline", kind: integer(64, 16777216) },
	{ key: "mqtt_outbox_policy", default: "drop-oldest", meaning: "when the outbox is full: drop-oldest or reject-new", kind: { type: "choice", values: ["drop-oldest", "reject-new"] } },
	{ key: "mqtt_max_inflight", default: "10", meaning: "QoS 1/2 messages awaiting acknowledgement at once", kind: integer(1, 1000) },
	{ key: "mqtt_max_topic", default: "256", meaning: "longest inbound topic accepted, bytes; longer ones are reported, acknowledged and not delivered", kind: integer(1, 65535) },
	{ key: "mqtt_max_packet", default: "4096", meaning: "largest inbound packet accepted, bytes; larger ones are reported, skipped without being stored, and acknowledged", kind: integer(64, 268435460) },
	{ key: "topic_temperature", default: "sensors/room1/temp", meaning: "where readings are published", kind: topic },
	{ key: "topic_status", default: "sensors/room1/status", meaning: "availability: retained online/offline (the will)", kind: topic },
	{ key: "topic_events", default: "sensors/room1/status/events", meaning: "error reports (sensor faults, rejected commands), JSON, not retained", kind: topic },
	{ key: "topic_led_command", default: "control/room1/led", meaning: "LED commands are taken from here (a filter)", kind: { type: "filter" } },
	{ key: "topic_led_state", default: "control/room1/led/state", meaning: "the LED's state, retained on/off", kind: topic },
	{ key: "topic_diagnostics", default: "sensors/room1/diagnostics", meaning: "device diagnostics (uptime, version, RSSI, heap, counters), JSON, retained, QoS 0", kind: topic },
	{ key: "diagnostics_interval", default: "60000", meaning: "ms between diagnostics messages, besides one on every connect (0: off; at least 1000)", kind: integer(0, 86400000) },
	{ key: "sensor", default: "tmp102", meaning: "sensor: tmp102, sht3x, ds18b20, ntc; on the simulators simulated, or simulated-faulty (every 3rd sample fails)", kind: { type: "choice", values: sensorKinds } },
	{ key: "sensor_interval", default: "10000", meaning: "ms between samples", kind: integer(100, 86400000) },
	{ key: "sensor_precision", default: "2", meaning: "decimals in published readings", kind: integer(0, 4) },
	{ key: "sensor_qos", default: "1", meaning: "QoS of readings", kind: integer(0, 2) },
	{ key: "sensor_retain", default: "false", meaning: "publish readings retained", kind: boolean },
	{ key: "sensor_offset", default: "0", meaning: "calibration offset added to every temperature, °C", kind: { type: "number", min: -20, max: 20 } },
	{ key: "sensor_deadband", default: "0", meaning: "publish only when the reading moved at least this many degrees (0: every sample)", kind: { type: "number", min: 0, max: 100 } },
	{ key: "sensor_heartbeat", default: "300000", meaning: "with a dead-band, publish at least this often, ms", kind: integer(1000, 86400000) },
	{ key: "sensor_sda", default: "21", meaning: "I2C data pin (TMP102, SHT3x)", kind: integer(0, 48) },
	{ key: "sensor_scl", default: "22", meaning: "I2C clock pin (TMP102, SHT3x)", kind: integer(0, 48) },
	{ key: "sensor_address", default: "0x48", meaning: "I2C address (TMP102 0x48-0x4B, SHT3x 0x44-0x45)", kind: integer(0x08, 0x77) },
	{ key: "sensor_pin", default: "4", meaning: "1-Wire pin (DS18B20) or analog pin (NTC)", kind: integer(0, 48) },
	{ key: "led_pin", default: "2", meaning: "LED GPIO (2 is the on-board LED of most ESP32 DevKits)", kind: integer(0, 48) },
	{ key: "led_active_low", default: "false", meaning: "the LED lights when the pin is low", kind: boolean },
	{ key: "ha_discovery", default: "false", meaning: "announce a temperature sensor and a light to Home Assistant (MQTT discovery)", kind: boolean },
	{ key: "ha_discovery_prefix", default: "homeassistant", meaning: "Home Assistant's discovery prefix; its birth message is awaited on <prefix>/status", kind: topic },
	{ key: "device_name", default: "Room 1 sensor", meaning: "the device's name in Home Assistant", kind: text(false) },
	{ key: "sntp_server", default: "pool.ntp.org", meaning: "time server (SNTP) that sets the device's wall clock", kind: { type: "hostname" } },
	{ key: "http_enabled", default: "true", meaning: "serve the web page and its JSON API", kind: boolean },
	{ key: "http_port", default: "80", meaning: "web page port (0: any free port; npm start serves a given port on 127.0.0.1, else a free loopback port, and prints it)", kind: integer(0, 65535) },
	{ key: "http_password", default: "", meaning: "password (HTTP Basic, any user name) for changes through the web page, at most 64 characters (empty: anyone on the network)", kind: text(true, true, maxHttpPasswordLength) },
];

export interface FirmwareConfig {
	wifi: { ssid: string; password: string; connectTimeout: number; setupAfter: number; backoff: { minimum: number; maximum: number; factor: number } };
	mqtt: {
		host: string; dns: { servers: readonly string[]; timeout: number }; port: number; clientId: string; username: string; password: string;
		tls: { serverName: string; ca?: string } | undefined;
		keepalive: number; pingTimeout: number; connackTimeout: number; cleanSession: boolean;
		backoff: { minimum: number; maximum: number; factor: number };
		outbox: { maxMessages: number; maxBytes: number; policy: "drop-oldest" | "reject-new" };
		maxInflight: number; maxPacketSize: number; maxTopicBytes: number;
	};
	topics: { temperature: string; status: string; events: string; ledCommand: string; ledState: string; diagnostics: string };
	sensor: {
		kind: SensorKind; interval: number; precision: number; qos: 0 | 1 | 2; retain: boolean;
		offset: number; deadband: number; heartbeat: number; sda: number; scl: number; address: number; pin: number;
	};
	led: { pin: number; activeLow: boolean };
	homeAssistant: { discovery: boolean; prefix: string; deviceName: string };
	diagnostics: { interval: number };
	time: { sntpServer: string };
	http: { enabled: boolean; port: number; password: string };
}

export class ConfigError extends Error {
	override name = "ConfigError";
	readonly problems: readonly string[];
	constructor(problems: string[]) {
		super(`config: ${problems.join("; ")}`);
		this.problems = problems;
	}
}

// No prototype, so that "constructor" is not mistaken for a boolean.
const booleans: Record<string, boolean | undefined> = Object.assign(Object.create(null) as Record<string, boolean>,
	{ true: true, false: false, "1": true, "0": false, yes: true, no: false, on: true, off: false });

type Value = string | number | boolean;

function parseValue(spec: ConfigKey, raw: string): Value | string[] {
	const { key, kind } = spec;
	const shown = spec.kind.type === "string" && spec.kind.secret ? "(hidden)" : JSON.stringify(raw);
	const problem = (expected: string): string[] => [`${key}=${shown} must be ${expected}`];
	switch (kind.type) {
		case "string":
			if (!kind.allowEmpty && raw.trim() === "") return problem("set (it is empty)");
			if (kind.maxLength !== undefined && raw.length > kind.maxLength) return problem(`at most ${kind.maxLength} characters (it has ${raw.length})`);
			return raw;
		case "integer": {
			const trimmed = raw.trim();
			const value = /^0x[0-9a-f]+$/i.test(trimmed) ? parseInt(trimmed, 16) : /^[+-]?\d+$/.test(trimmed) ? Number(trimmed) : NaN;
			if (!Number.isInteger(value) || value < kind.min || value > kind.max) return problem(`an integer ${kind.min}-${kind.max}`);
			return value;
		}
		case "number": {
			const trimmed = raw.trim();
			const value = /^[+-]?(\d+\.?\d*|\.\d+)$/.test(trimmed) ? Number(trimmed) : NaN;
			if (!Number.isFinite(value) || value < kind.min || value > kind.max) return problem(`a number ${kind.min}-${kind.max}`);
			return value;
		}
		case "boolean": {
			const value = booleans[raw.trim().toLowerCase()];
			if (value === undefined) return problem("true or false (also 1/0, yes/no, on/off)");
			return value;
		}
		case "choice":
			if (!kind.values.includes(raw.trim())) return problem(`one of ${kind.values.join(", ")}`);
			return raw.trim();
		case "topic": {
			const broken = validateTopicName(raw);
			if (broken) return problem(`a publish topic (${broken})`);
			return raw;
		}
		case "ipv4-list": {
			const bad = raw.split(",").map((part) => part.trim()).filter((part) => part && !isIPv4(part));
			if (bad.length) return problem(`comma-separated IPv4 addresses (not ${bad.join(", ")})`);
			return raw;
		}
		case "filter": {
			const broken = validateTopicFilter(raw);
			if (broken) return problem(`a topic filter (${broken})`);
			return raw;
		}
		case "hostname":
			if (!/^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(raw.trim())) return problem("a host name or IPv4 address (letters, digits, dots and hyphens)");
			return raw.trim();
	}
}

/**
 * Keys the Moddable SDK's manifests and board targets put in `mc/config`
 * (examples/manifest_net.json, build/devices/<platform>/targets/<board>).
 * A device never refuses these, however close they come to one of ours.
 */
export const sdkConfigKeys: readonly string[] = [
	"sntp", "screen", "Screen", "touch", "rotation", "driverRotation", "autorotate", "format", "backlight", "brightness",
	"button", "buttonArray", "button_pin", "virtualButton", "buzzer", "camera", "corner", "enablePowerButton", "es8311",
	"i2c", "ir_pin", "ir_rx_pin", "ir_tx_pin", "lcd_pin", "led", "peripheral_power_pin", "power_pin", "rtc",
	"startupSound", "startupVibration", "voltage", "xPWR_key", "xPower",
];

const known = new Set(configKeys.map((spec) => spec.key));

/** Our key families: a key that starts with one of these is ours, known or misspelt. */
const ownPrefixes = ["wifi_", "mqtt_", "topic_", "sensor_", "led_", "ha_", "diagnostics_", "device_", "sntp_"];

/**
 * Edit distance (insertions, deletions, substitutions, adjacent swaps),
 * kept in three rows: a parse runs it for every unknown key against every
 * known one, and XS keeps an array's items in its scarce chunk heap.
 */
function distance(a: string, b: string): number {
	let before: number[] = [];
	let previous: number[] = [];
	let row: number[] = [];
	for (let j = 0; j <= b.length; j++) previous.push(j);
	for (let i = 1; i <= a.length; i++) {
		row[0] = i;
		for (let j = 1; j <= b.length; j++) {
			const cost = a[i - 1] === b[j - 1] ? 0 : 1;
			let best = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + cost);
			if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, before[j - 2]! + 1);
			row[j] = best;
		}
		const reused = before;
		before = previous;
		previous = row;
		row = reused;
	}
	return previous[b.length]!;
}

/**
 * Names other firmwares (ESPHome, Tasmota) and habit give our keys: a key
 * near one of these means the key it stands for (wifi_pasword: password).
 */
const keyAliases: readonly (readonly [string, string])[] = [
	["wifi_ssid", "ssid"], ["wifi_password", "password"], ["wifi_pass", "password"],
	["mqtt_server", "mqtt_host"], ["mqtt_broker", "mqtt_host"], ["mqtt_user", "mqtt_username"], ["mqtt_pass", "mqtt_password"],
	["http_pass", "http_password"], ["web_password", "http_password"], ["web_port", "http_port"],
];

/** The known key nearest to `key`, if one is near enough to be what was meant. */
export function nearestKey(key: string): string | undefined {
	let nearest: string | undefined;
	let best = Infinity;
	const lower = key.toLowerCase();
	const consider = (name: string, meant: string): void => {
		const d = distance(lower, name);
		if (d < best) {
			best = d;
			nearest = meant;
		}
	};
	for (const spec of configKeys) consider(spec.key, spec.key);
	for (const [name, meant] of keyAliases) consider(name, meant);
	return best <= Math.max(2, Math.floor(key.length / 3)) ? nearest : undefined;
}

/**
 * One problem for each key of `source` the firmware does not know. Strict:
 * every unknown key (the caller built the whole table). Otherwise, only
 * keys that look like ours: an SDK's or a board's own key passes.
 */
export function unknownKeyProblems(source: Readonly<Record<string, unknown>>, strict: boolean): string[] {
	const problems: string[] = [];
	for (const key of Object.keys(source)) {
		if (known.has(key) || (!strict && sdkConfigKeys.includes(key))) continue;
		const nearest = nearestKey(key);
		if (!strict && !nearest && !ownPrefixes.some((prefix) => key.startsWith(prefix))) continue;
		problems.push(`unknown key ${key}${nearest ? `; did you mean ${nearest}?` : " (docs/configuration.md lists every key)"}`);
	}
	return problems;
}

export interface ParseOptions {
	/** Refuse every unknown key, not only those that look like ours. */
	strict?: boolean;
}

/**
 * Parses `mc/config` (or any object of the same shape) into a frozen
 * FirmwareConfig. Unknown keys are refused (see unknownKeyProblems); missing
 * keys take the defaults above. Throws one ConfigError listing every problem.
 */
export function parseConfig(source: Readonly<Record<string, unknown>>, options: ParseOptions = {}): FirmwareConfig {
	const values: Record<string, Value> = {};
	const problems: string[] = unknownKeyProblems(source, options.strict === true);
	for (const spec of configKeys) {
		const given = source[spec.key];
		let raw: string;
		if (given === undefined || given === null) raw = spec.default;
		else if (typeof given === "string") raw = given;
		else if (typeof given === "number" || typeof given === "boolean") raw = String(given);
		else {
			problems.push(`${spec.key} must be text, a number or a boolean, got ${typeof given}`);
			continue;
		}
		const value = parseValue(spec, raw);
		if (Array.isArray(value)) problems.push(...value);
		else values[spec.key] = value;
	}
	const number = (key: string): number => values[key] as number;
	const string = (key: string): string => values[key] as string;
	const flag = (key: string): boolean => values[key] as boolean;
	if (!problems.length) {
		if (number("wifi_setup_after") > 0 && number("wifi_setup_after") < 10000) problems.push(`wifi_setup_after=${number("wifi_setup_after")} must be 0 (never) or at least 10000 ms, or the access point would open before a network could be joined`);
		if (number("wifi_backoff_max") < number("wifi_backoff_min")) problems.push(`wifi_backoff_max=${number("wifi_backoff_max")} must be >= wifi_backoff_min (${number("wifi_backoff_min")})`);
		if (number("mqtt_backoff_max") < number("mqtt_backoff_min")) problems.push(`mqtt_backoff_max=${number("mqtt_backoff_max")} must be >= mqtt_backoff_min (${number("mqtt_backoff_min")})`);
		if (number("mqtt_keepalive") > 0 && number("mqtt_ping_timeout") >= number("mqtt_keepalive") * 1000 * 1.5) problems.push(`mqtt_ping_timeout=${number("mqtt_ping_timeout")} must be shorter than 1.5 x mqtt_keepalive, or the broker drops us first`);
		if (!literalAddress(string("mqtt_host")) && number("dns_timeout") >= number("mqtt_connack_timeout")) problems.push(`dns_timeout=${number("dns_timeout")} must be shorter than mqtt_connack_timeout (${number("mqtt_connack_timeout")}), which counts from the start of the attempt`);
		if (string("mqtt_password") && !string("mqtt_username")) problems.push("mqtt_password needs mqtt_username: MQTT 3.1.1 sends no password without a user name");
		if (string("mqtt_tls_ca") && !pemCertificate(string("mqtt_tls_ca"))) problems.push("mqtt_tls_ca must be a PEM certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----)");
		const interval = number("diagnostics_interval");
		if (interval > 0 && interval < 1000) problems.push(`diagnostics_interval=${interval} must be 0 (off) or at least 1000 ms`);
		const published = ["topic_temperature", "topic_status", "topic_events", "topic_led_state", "topic_diagnostics"];
		for (const key of published) {
			if (string(key) === string("topic_led_command")) problems.push(`${key}="${string(key)}" must differ from topic_led_command, or the device would obey its own messages`);
		}
	}
	if (problems.length) throw new ConfigError(problems);
	const tls = flag("mqtt_tls")
		? { serverName: string("mqtt_tls_server_name") || string("mqtt_host"), ...(string("mqtt_tls_ca") ? { ca: normalizePem(string("mqtt_tls_ca")) } : {}) }
		: undefined;
	const config: FirmwareConfig = {
		wifi: {
			ssid: string("ssid"), password: string("password"), connectTimeout: number("wifi_connect_timeout"), setupAfter: number("wifi_setup_after"),
			backoff: { minimum: number("wifi_backoff_min"), maximum: number("wifi_backoff_max"), factor: 2 },
		},
		mqtt: {
			host: string("mqtt_host"), port: number("mqtt_port"),
			dns: { servers: string("dns_servers").split(",").map((part) => part.trim()).filter(Boolean), timeout: number("dns_timeout") }, clientId: string("mqtt_client_id"),
			username: string("mqtt_username"), password: string("mqtt_password"), tls,
			keepalive: number("mqtt_keepalive"), pingTimeout: number("mqtt_ping_timeout"), connackTimeout: number("mqtt_connack_timeout"),
			cleanSession: flag("mqtt_clean_session"),
			backoff: { minimum: number("mqtt_backoff_min"), maximum: number("mqtt_backoff_max"), factor: number("mqtt_backoff_factor") },
			outbox: { maxMessages: number("mqtt_outbox_messages"), maxBytes: number("mqtt_outbox_bytes"), policy: string("mqtt_outbox_policy") as "drop-oldest" | "reject-new" },
			maxInflight: number("mqtt_max_inflight"), maxPacketSize: number("mqtt_max_packet"), maxTopicBytes: number("mqtt_max_topic"),
		},
		topics: {
			temperature: string("topic_temperature"), status: string("topic_status"), events: string("topic_events"),
			ledCommand: string("topic_led_command"), ledState: string("topic_led_state"), diagnostics: string("topic_diagnostics"),
		},
		sensor: {
			kind: string("sensor") as SensorKind, interval: number("sensor_interval"), precision: number("sensor_precision"),
			qos: number("sensor_qos") as 0 | 1 | 2, retain: flag("sensor_retain"), offset: number("sensor_offset"), deadband: number("sensor_deadband"),
			heartbeat: number("sensor_heartbeat"), sda: number("sensor_sda"), scl: number("sensor_scl"),
			address: number("sensor_address"), pin: number("sensor_pin"),
		},
		led: { pin: number("led_pin"), activeLow: flag("led_active_low") },
		homeAssistant: { discovery: flag("ha_discovery"), prefix: string("ha_discovery_prefix"), deviceName: string("device_name") },
		diagnostics: { interval: number("diagnostics_interval") },
		time: { sntpServer: string("sntp_server") },
		http: { enabled: flag("http_enabled"), port: number("http_port"), password: string("http_password") },
	};
	return deepFreeze(config);
}

/**
 * The first PEM certificate in `text`; group 1 is its base64 body. The
 * pattern is made on each call: a RegExp kept in a preloaded module's body
 * crashes XS (docs/benchmarks.md, "RegExp objects and preloading").
 */
export function pemCertificate(text: string): RegExpExecArray | null {
	return /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/.exec(text);
}

/**
 * A PEM certificate as TLS libraries want it, lines of 64. A command line
 * cannot easily carry newlines, so `mqtt_tls_ca` may arrive on one line.
 */
export function normalizePem(pem: string): string {
	let text = "";
	for (let rest = pem; ;) {
		const match = pemCertificate(rest);
		if (!match) return text;
		const body = match[1]!.replace(/\s+/g, "");
		text += "-----BEGIN CERTIFICATE-----\n";
		for (let i = 0; i < body.length; i += 64) text += body.slice(i, i + 64) + "\n";
		text += "-----END CERTIFICATE-----\n";
		rest = rest.slice(match.index + match[0].length);
	}
}

function deepFreeze<T extends object>(value: T): T {
	for (const child of Object.values(value)) if (child && typeof child === "object") deepFreeze(child as object);
	return Object.freeze(value);
}
