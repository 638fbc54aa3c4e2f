/*
 * The firmware: Wi-Fi manager → MQTT client → telemetry, LED actuator and
 * availability, on whatever host it is given.
 *
 * Availability (ESPHome and Tasmota users expect exactly this):
 * - the will publishes `offline`, retained, on the status topic;
 * - `online` is published, retained, after every CONNACK and ahead of any
 *   queued readings, so a broker restart that replayed the will cannot
 *   leave us marked offline;
 * - an orderly shutdown publishes `offline` itself, then disconnects.
 * Errors (sensor faults, rejected LED commands) go to a separate events
 * topic as JSON, so the status topic stays a plain online/offline. How the
 * device is (uptime, signal, heap, counters) goes, retained, to the
 * diagnostics topic (firmware/diagnostics).
 */
import type { DigitalOutput, FirmwareHandle, Host, LogLevel, TemperatureSensor } from "platform";
import type { FirmwareConfig } from "config";
import { MqttClient, type InboundMessage } from "mqtt/client";
import type { ClientOptions, SessionState } from "mqtt/client-options";
import type { SessionErrorKind } from "mqtt/session-contract";
import { WifiManager, type WifiManagerOptions, type WifiState } from "firmware/wifi";
import { Telemetry, type TelemetryOptions } from "firmware/telemetry";
import { LedActuator, type LedOptions } from "firmware/led";
import { discoveryMessages, homeAssistantStatusTopic } from "firmware/discovery";
import { Diagnostics, type DiagnosticsCounts, type DiagnosticsOptions } from "firmware/diagnostics";
import { deviceIdentity, hostLabel, TakeoverWatch, takeoverCount, takeoverWindow } from "firmware/identity";

export const firmwareVersion = "0.1.0";

export interface FirmwareOptions {
	/** Random source for backoff jitter; seeded in tests. Default: the host's, else Math.random. */
	random?: () => number;
	/** Started by a device (firmware/device), which attaches itself to the host and exits it: the firmware then does neither. */
	partOfDevice?: boolean;
}

/** What a new configuration restarts: each part only when a setting it uses changed. */
export type FirmwarePart = "wifi" | "mqtt" | "telemetry" | "discovery";

/**
 * The parts of the firmware that `next` changes: Wi-Fi for its own keys,
 * MQTT for the broker's and the topics (the will and birth are in CONNECT),
 * telemetry for the sensor's, discovery for Home Assistant's. Anything else
 * (the page's password, say) is read where it is used and restarts nothing.
 */
export function changedParts(previous: FirmwareConfig, next: FirmwareConfig): FirmwarePart[] {
	const differs = (part: keyof FirmwareConfig): boolean => JSON.stringify(previous[part]) !== JSON.stringify(next[part]);
	const parts: FirmwarePart[] = [];
	if (differs("wifi")) parts.push("wifi");
	if (differs("mqtt") || differs("topics")) parts.push("mqtt");
	if (differs("sensor")) parts.push("telemetry");
	if (differs("homeAssistant")) parts.push("discovery");
	return parts;
}

/** The firmware, which can also take a new configuration while it runs. */
export interface Firmware extends FirmwareHandle {
	/**
	 * Applies `next` restarting only the parts it changes (see changedParts);
	 * the readings' seq, the LED and the readings still waiting to be sent
	 * (the outbox, and those in flight) are kept. Returns what restarted.
	 */
	reconfigure(next: FirmwareConfig): FirmwarePart[];
	setLed(on: boolean): void;
	ledCommand(command: "on" | "off" | "toggle"): boolean;
	recentReadings(): number[];
}

export function startFirmware(host: Host, initial: FirmwareConfig, options: FirmwareOptions = {}): Firmware {
	return new Runtime(host, initial, options.random ?? host.random, options.partOfDevice === true);
}

/*
 * Memory: the firmware lives for as long as the device runs, so what it
 * keeps is paid for every second. Its logic is methods, here and in the
 * parts' links below: a preloaded module's methods are in flash, where a
 * closure made at start-up costs about ten slots and a chunk of RAM each.
 * Each part is handed a link: its options and callbacks as a small object
 * that reads the current configuration from the firmware.
 */

/** A failed attempt's reason is logged once, on the "waiting" line that says when the next one is. */
const retryKinds: readonly SessionErrorKind[] = Object.freeze(["transport", "timeout", "refused", "protocol"]);
/** A state, not an event: last value wins while it waits (see mqtt/outbox). */
const ledStateOptions = Object.freeze({ qos: 1, retain: true, supersede: true } as const);
const homeAssistantOnline = "online";

class Runtime implements Firmware {
	readonly host: Host;
	readonly random: (() => number) | undefined;
	readonly partOfDevice: boolean;
	config: FirmwareConfig;
	// Read by the links when they run, so a new configuration reaches them.
	topics: FirmwareConfig["topics"];
	mqtt: FirmwareConfig["mqtt"];
	sensor: FirmwareConfig["sensor"];
	/** Made once per configuration: a reading goes out every interval, and its options never change. */
	readingOptions: { qos: 0 | 1 | 2; retain: boolean };
	stopped = false;
	mqttStarted = false;
	/** A new mqtt_client_id is a new identity: restartMqtt derives it again. */
	identity: { id: string; source: string };
	readonly takeover = new TakeoverWatch();
	client: MqttClient;
	readonly led: LedActuator;
	telemetry: Telemetry;
	readonly diagnostics: Diagnostics;
	wifi: WifiManager;
	/** A pin cannot be opened twice: a restarted telemetry reuses the sensor opened before with the same settings. */
	readonly sensors: Record<string, TemperatureSensor> = {};

	constructor(host: Host, initial: FirmwareConfig, random: (() => number) | undefined, partOfDevice: boolean) {
		this.host = host;
		this.random = random;
		this.partOfDevice = partOfDevice;
		this.config = initial;
		const { topics, mqtt, sensor } = initial;
		this.topics = topics;
		this.mqtt = mqtt;
		this.sensor = sensor;
		this.readingOptions = { qos: sensor.qos, retain: sensor.retain };
		this.identity = deviceIdentity(mqtt.clientId, host.wifi.mac?.());
		this.client = new MqttClient(new ClientLink(this));
		this.led = new LedActuator(new LedLink(this, host.openLed(initial.led.pin), initial.led.activeLow));
		this.subscribe();
		this.telemetry = new Telemetry(new TelemetryLink(this));
		this.diagnostics = new Diagnostics(new DiagnosticsLink(this, initial.diagnostics.interval));
		this.wifi = new WifiManager(new WifiLink(this));
		this.log("info", "firmware", `room1 firmware ${firmwareVersion} starting on ${host.name}`, {
			clientId: this.identity.id, identity: this.identity.source, broker: `${mqtt.tls ? "mqtts" : "mqtt"}://${mqtt.host}:${mqtt.port}`, sensor: sensor.kind, interval: sensor.interval,
		});
		this.wifi.start();
		this.telemetry.start();
		if (!partOfDevice) host.attach?.(this);
	}

	log(level: LogLevel, tag: string, message: string, fields?: Record<string, unknown>): void {
		this.host.log(level, tag, message, fields);
	}

	/** An event on the events topic, as JSON. */
	report(event: string, message: string, fields: Record<string, unknown>): void {
		let json = `{"event":${JSON.stringify(event)},"message":${JSON.stringify(message)}`;
		for (const key of Object.keys(fields)) json += `,${JSON.stringify(key)}:${JSON.stringify(fields[key])}`;
		this.client.publish(this.topics.events, json + "}", { qos: 0 });
	}

	subscribe(): void {
		const led = this.led;
		this.client.subscribe(this.topics.ledCommand, 1, (message: InboundMessage) => led.command(message.payload));
		if (this.config.homeAssistant.discovery) {
			this.client.subscribe(homeAssistantStatusTopic(this.config), 1, (message: InboundMessage) => {
				if (message.payload.length === 6 && String.fromCharCode(...message.payload) === homeAssistantOnline) this.announce();
			});
		}
	}

	/**
	 * Home Assistant discovery: after every CONNACK, and whenever Home
	 * Assistant restarts (its birth message), since it may have lost them.
	 */
	announce(): void {
		const config = this.config;
		if (!config.homeAssistant.discovery) return;
		for (const { topic, payload } of discoveryMessages(config, this.identity.id, firmwareVersion, this.host.diagnostics?.() ?? {})) this.client.publish(topic, payload, { qos: 1, retain: true });
		this.log("info", "discovery", "announced to Home Assistant", { prefix: config.homeAssistant.prefix });
	}

	/** The one place the firmware reads the client's counts. */
	mqttCounts() {
		const client = this.client;
		const stats = client.stats;
		return {
			outbox: client.queued, inflight: client.inflight,
			connects: stats.connects, reconnects: stats.reconnects, sent: stats.sent, received: stats.received,
			dropped: stats.dropped, protocolErrors: stats.protocolErrors, lastRoundTrip: stats.lastRoundTrip ?? null,
		};
	}

	/** A new broker or topics: the readings not yet acknowledged go to the new client, on the new topic, in order. */
	restartMqtt(previous: FirmwareConfig["topics"], wifiRestarts: boolean): void {
		const unsent = this.client.unsent().filter((message) => message.topic === previous.temperature);
		// As an orderly shutdown does: the broker left behind is told, not left to think we are online.
		if (this.client.state === "connected") this.client.publish(previous.status, "offline", { qos: 1, retain: true });
		this.client.stop();
		this.identity = deviceIdentity(this.mqtt.clientId, this.host.wifi.mac?.());
		const client = this.client = new MqttClient(new ClientLink(this));
		this.subscribe();
		for (const message of unsent) client.publish(this.topics.temperature, message.payload, { qos: message.qos, retain: message.retain });
		this.mqttStarted = false;
		if (!wifiRestarts && this.wifi.state === "connected") {
			this.mqttStarted = true;
			client.start();
		}
	}

	restartTelemetry(): void {
		const previous = this.telemetry;
		previous.stop();
		const telemetry = this.telemetry = new Telemetry(new TelemetryLink(this));
		// The same device, the same count: a gap in seq still means a lost reading.
		telemetry.samples = previous.samples;
		telemetry.published = previous.published;
		telemetry.suppressed = previous.suppressed;
		telemetry.failures = previous.failures;
		telemetry.start();
	}

	restartWifi(): void {
		this.wifi.stop();
		if (this.mqttStarted) this.client.suspend("Wi-Fi settings changed");
		this.wifi = new WifiManager(new WifiLink(this));
		this.wifi.start();
	}

	shutdown(): void {
		if (this.stopped) return;
		this.stopped = true;
		this.telemetry.stop();
		this.diagnostics.stop();
		const client = this.client;
		const connected = client.state === "connected";
		if (connected) client.publish(this.topics.status, "offline", { qos: 1, retain: true });
		client.stop();
		this.wifi.stop();
		this.log("info", "firmware", connected ? "stopped: offline published"
			: client.stats.connects > 0 ? "stopped while disconnected: the broker publishes the will (offline)" : "stopped: never connected, so nothing to publish");
		if (!this.partOfDevice) this.host.exit?.();
	}

	setLed(on: boolean): void {
		this.led.set(on);
	}

	reconfigure(next: FirmwareConfig): FirmwarePart[] {
		if (this.stopped) return [];
		const parts = changedParts(this.config, next);
		const previousTopics = this.topics;
		this.config = next;
		this.topics = next.topics;
		this.mqtt = next.mqtt;
		this.sensor = next.sensor;
		this.readingOptions = { qos: next.sensor.qos, retain: next.sensor.retain };
		if (parts.includes("telemetry")) this.restartTelemetry();
		if (parts.includes("mqtt")) this.restartMqtt(previousTopics, parts.includes("wifi"));
		else if (parts.includes("discovery") && this.client.state === "connected") this.announce();
		if (parts.includes("wifi")) this.restartWifi();
		if (parts.length) this.log("info", "firmware", `new settings: restarted ${parts.join(", ")}`);
		return parts;
	}

	ledCommand(command: "on" | "off" | "toggle"): boolean {
		this.led.apply(command);
		return this.led.on;
	}

	recentReadings(): number[] {
		return this.telemetry.recent();
	}

	status(): Record<string, unknown> {
		const { wifi, led, telemetry } = this;
		const counts = this.mqttCounts();
		return {
			wifi: wifi.state,
			accessPoint: wifi.accessPoint ?? null,
			mqtt: this.client.state,
			led: led.on ? "on" : "off",
			temperature: telemetry.lastTemperature ?? null,
			precision: this.sensor.precision,
			humidity: telemetry.lastHumidity ?? null,
			recorded: telemetry.recorded,
			readings: telemetry.published,
			samples: telemetry.samples,
			sensorFailures: telemetry.failures,
			ledCommands: led.commands,
			ledRejected: led.rejected,
			...counts,
			wifiDrops: wifi.drops,
			diagnostics: this.diagnostics.sent,
		};
	}
}

/** The MQTT client's options, from the configuration the client is made with; its events. */
class ClientLink implements ClientOptions {
	readonly #firmware: Runtime;
	constructor(firmware: Runtime) {
		this.#firmware = firmware;
	}
	get host(): Host { return this.#firmware.host; }
	get address(): string { return this.#firmware.mqtt.host; }
	get dns(): ClientOptions["dns"] { return this.#firmware.mqtt.dns; }
	get port(): number { return this.#firmware.mqtt.port; }
	get tls(): ClientOptions["tls"] { return this.#firmware.mqtt.tls; }
	get clientId(): string { return this.#firmware.identity.id; }
	get cleanSession(): boolean { return this.#firmware.mqtt.cleanSession; }
	get keepalive(): number { return this.#firmware.mqtt.keepalive; }
	get username(): string | undefined { return this.#firmware.mqtt.username || undefined; }
	get password(): string | undefined { return this.#firmware.mqtt.password || undefined; }
	get will(): ClientOptions["will"] { return { topic: this.#firmware.topics.status, payload: "offline", qos: 1, retain: true }; }
	get birth(): ClientOptions["birth"] { return { topic: this.#firmware.topics.status, payload: "online", qos: 1, retain: true }; }
	get connackTimeout(): number { return this.#firmware.mqtt.connackTimeout; }
	get pingTimeout(): number { return this.#firmware.mqtt.pingTimeout; }
	get backoff(): ClientOptions["backoff"] { return this.#firmware.mqtt.backoff; }
	get random(): (() => number) | undefined { return this.#firmware.random; }
	get outbox(): ClientOptions["outbox"] { return this.#firmware.mqtt.outbox; }
	get maxInflight(): number { return this.#firmware.mqtt.maxInflight; }
	get maxPacketSize(): number { return this.#firmware.mqtt.maxPacketSize; }
	get maxTopicBytes(): number | undefined { return this.#firmware.mqtt.maxTopicBytes; }
	get oversize(): "skip" { return "skip"; }

	onStateChange(state: SessionState, reason: string): void {
		this.#firmware.log(state === "waiting" ? "warn" : "info", "mqtt", `${state}: ${reason}`);
	}
	onResolved(name: string, address: string): void {
		this.#firmware.log("info", "dns", `${name} is ${address}`);
	}
	onConnect({ sessionPresent }: { sessionPresent: boolean }): void {
		const firmware = this.#firmware;
		firmware.takeover.connected(firmware.host.clock.now());
		firmware.log("info", "mqtt", "connected", { broker: `${firmware.mqtt.host}:${firmware.mqtt.port}`, sessionPresent });
		firmware.led.publishState();
		firmware.announce();
		firmware.diagnostics.send();
	}
	onError(kind: SessionErrorKind, message: string): void {
		const firmware = this.#firmware;
		if (kind === "transport" && firmware.takeover.lost(firmware.host.clock.now())) {
			const id = firmware.identity.id;
			const problem = `another client with the same id "${id}" is probably connected: the broker closed our connection ${takeoverCount} times within ${takeoverWindow / 1000} s of CONNACK (it drops the older of two clients with one id); give each device its own mqtt_client_id`;
			firmware.log("error", "mqtt", problem, { clientId: id });
			firmware.report("client_id_taken", problem, { clientId: id });
		}
		if (!retryKinds.includes(kind)) firmware.log(kind === "oversize" || kind === "limit" ? "warn" : "error", "mqtt", message, { kind });
	}
	/**
	 * A message skipped for its size never reaches its handler: an LED
	 * command is refused and reported like any other; anything else still
	 * goes on the events topic.
	 */
	onSkipped({ topic, reason }: { topic: string | undefined; reason: string }): void {
		const firmware = this.#firmware;
		if (topic === firmware.topics.ledCommand) firmware.led.refuseUnread(reason);
		else firmware.report("message_skipped", reason, { topic: topic ?? null });
	}
}

class LedLink implements LedOptions {
	readonly #firmware: Runtime;
	readonly output: DigitalOutput;
	readonly activeLow: boolean;
	readonly #fields: Readonly<{ pin: number }>;
	constructor(firmware: Runtime, output: DigitalOutput, activeLow: boolean) {
		this.#firmware = firmware;
		this.output = output;
		this.activeLow = activeLow;
		this.#fields = Object.freeze({ pin: firmware.config.led.pin });
	}
	publishState(state: "on" | "off"): void {
		const firmware = this.#firmware;
		firmware.client.publish(firmware.topics.ledState, state, ledStateOptions);
	}
	onChange(on: boolean): void {
		this.#firmware.log("info", "led", on ? "on" : "off", this.#fields);
	}
	onRejected(reason: string, quote: string): void {
		this.#firmware.log("warn", "led", `rejected command: ${reason}`, { payload: quote });
		this.#firmware.report("led_command_rejected", reason, { payload: quote });
	}
}

/** The sensor's settings as fields, not getters: telemetry reads them every reading; a change of them makes a new Telemetry. */
class TelemetryLink implements TelemetryOptions {
	readonly #firmware: Runtime;
	readonly host: Host;
	readonly interval: number;
	readonly precision: number;
	readonly offset: number | undefined;
	readonly deadband: number;
	readonly heartbeat: number;
	constructor(firmware: Runtime) {
		this.#firmware = firmware;
		this.host = firmware.host;
		const sensor = firmware.sensor;
		this.interval = sensor.interval;
		this.precision = sensor.precision;
		this.offset = sensor.offset;
		this.deadband = sensor.deadband;
		this.heartbeat = sensor.heartbeat;
	}
	openSensor(): TemperatureSensor {
		const firmware = this.#firmware;
		const sensor = firmware.sensor;
		const options = { kind: sensor.kind, sda: sensor.sda, scl: sensor.scl, address: sensor.address, pin: sensor.pin };
		const key = JSON.stringify(options);
		return (firmware.sensors[key] ??= firmware.host.openSensor(options));
	}
	publish(payload: string): void {
		const firmware = this.#firmware;
		firmware.client.publish(firmware.topics.temperature, payload, firmware.readingOptions);
	}
	onFault(message: string, consecutive: number): void {
		const firmware = this.#firmware;
		firmware.log("error", "sensor", message, { consecutive });
		firmware.report("sensor_fault", message, { consecutive, failures: firmware.telemetry.failures });
	}
	onRecovered(after: number): void {
		const firmware = this.#firmware;
		const message = `recovered after ${after} failed sample${after === 1 ? "" : "s"}`;
		firmware.log("info", "sensor", message);
		firmware.report("sensor_recovered", message, { failures: firmware.telemetry.failures });
	}
	/** Handed to the client is not yet on the wire: "queued" (the client's sent count says when it went). */
	onReading(temperature: string, queued: boolean): void {
		const firmware = this.#firmware;
		firmware.log("info", "telemetry", queued ? `reading ${firmware.telemetry.published} queued: ${temperature} °C` : `${temperature} °C unchanged (dead-band): not published`);
	}
}

class DiagnosticsLink implements DiagnosticsOptions {
	readonly #firmware: Runtime;
	readonly interval: number;
	constructor(firmware: Runtime, interval: number) {
		this.#firmware = firmware;
		this.interval = interval;
	}
	get host(): Host { return this.#firmware.host; }
	get version(): string { return firmwareVersion; }
	online(): boolean {
		return this.#firmware.client.state === "connected";
	}
	counts(): DiagnosticsCounts {
		const firmware = this.#firmware;
		const counts = firmware.mqttCounts();
		return {
			wifiReconnects: firmware.wifi.drops, mqttReconnects: counts.reconnects, readingsDropped: counts.dropped,
			sensorFaults: firmware.telemetry.failures, commandsRejected: firmware.led.rejected,
		};
	}
	publish(payload: string): void {
		const firmware = this.#firmware;
		firmware.client.publish(firmware.topics.diagnostics, payload, { qos: 0, retain: true });
	}
}

/** Wi-Fi's settings are read from the configuration: a change of them makes a new WifiManager. */
class WifiLink implements WifiManagerOptions {
	readonly #firmware: Runtime;
	constructor(firmware: Runtime) {
		this.#firmware = firmware;
	}
	get host(): Host { return this.#firmware.host; }
	get ssid(): string { return this.#firmware.config.wifi.ssid; }
	get password(): string { return this.#firmware.config.wifi.password; }
	get connectTimeout(): number { return this.#firmware.config.wifi.connectTimeout; }
	get setupAfter(): number { return this.#firmware.config.wifi.setupAfter; }
	get backoff(): WifiManagerOptions["backoff"] { return this.#firmware.config.wifi.backoff; }
	get identity(): string { return this.#firmware.identity.id; }
	get random(): (() => number) | undefined { return this.#firmware.random; }
	onChange(state: WifiState, reason: string): void {
		const firmware = this.#firmware;
		firmware.log(state === "waiting" ? "warn" : "info", "wifi", `${state}: ${reason}`);
		if (firmware.stopped) return;
		const client = firmware.client;
		if (state === "connected") {
			const config = firmware.config;
			firmware.host.syncClock?.(config.time.sntpServer);
			firmware.host.advertise?.(hostLabel(firmware.identity.id), config.http.enabled ? config.http.port : undefined);
			if (firmware.mqttStarted) client.resume();
			else {
				firmware.mqttStarted = true;
				client.start();
			}
		} else if (firmware.mqttStarted) {
			client.suspend("Wi-Fi is down");
		}
	}
}
