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
import type { FirmwareHandle, Host, LogLevel } from "platform";
import type { FirmwareConfig } from "config";
import { MqttClient, type InboundMessage } from "mqtt/client";
import { WifiManager } from "firmware/wifi";
import { Telemetry } from "firmware/telemetry";
import { LedActuator } from "firmware/led";
import { discoveryMessages, homeAssistantStatusTopic } from "firmware/discovery";
import { Diagnostics } from "firmware/diagnostics";

export const firmwareVersion = "0.1.0";

export interface FirmwareOptions {
	/** Random source for backoff jitter; seeded in tests. Default: the host's, else Math.random. */
	random?: () => number;
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
}

export function startFirmware(host: Host, initial: FirmwareConfig, options: FirmwareOptions = {}): Firmware {
	const log = (level: LogLevel, tag: string, message: string, fields?: Record<string, unknown>): void => host.log(level, tag, message, fields);
	let config = initial;
	// Read by the callbacks below when they run, so a new configuration reaches them.
	let { topics, mqtt, sensor } = config;
	const random = options.random ?? host.random;
	let stopped = false;
	// A failed attempt's reason is logged once, on the "waiting" line that says when the next one is.
	const retryKinds = ["transport", "timeout", "refused", "protocol"];

	const makeClient = (): MqttClient => new MqttClient({
		host,
		address: mqtt.host,
		dns: mqtt.dns,
		port: mqtt.port,
		tls: mqtt.tls,
		clientId: mqtt.clientId,
		cleanSession: mqtt.cleanSession,
		keepalive: mqtt.keepalive,
		username: mqtt.username || undefined,
		password: mqtt.password || undefined,
		will: { topic: topics.status, payload: "offline", qos: 1, retain: true },
		birth: { topic: topics.status, payload: "online", qos: 1, retain: true },
		connackTimeout: mqtt.connackTimeout,
		pingTimeout: mqtt.pingTimeout,
		backoff: mqtt.backoff,
		...(random ? { random } : {}),
		outbox: mqtt.outbox,
		maxInflight: mqtt.maxInflight,
		maxPacketSize: mqtt.maxPacketSize,
		maxTopicBytes: mqtt.maxTopicBytes,
		oversize: "skip",
		onStateChange: (state, reason) => log(state === "waiting" ? "warn" : "info", "mqtt", `${state}: ${reason}`),
		onResolved: (name, address) => log("info", "dns", `${name} is ${address}`),
		onConnect: ({ sessionPresent }) => {
			log("info", "mqtt", "connected", { broker: `${mqtt.host}:${mqtt.port}`, sessionPresent });
			led.publishState();
			announce();
			diagnostics.send();
		},
		onError: (kind, message) => {
			if (!retryKinds.includes(kind)) log(kind === "oversize" || kind === "limit" ? "warn" : "error", "mqtt", message, { kind });
		},
		// A message skipped for its size never reaches its handler: an LED command is refused
		// and reported like any other; anything else still goes on the events topic.
		onSkipped: ({ topic, reason }) => {
			if (topic === topics.ledCommand) led.refuseUnread(reason);
			else report("message_skipped", reason, { topic: topic ?? null });
		},
	});
	let client = makeClient();

	const report = (event: string, message: string, fields: Record<string, unknown>): void => {
		let json = `{"event":${JSON.stringify(event)},"message":${JSON.stringify(message)}`;
		for (const key of Object.keys(fields)) json += `,${JSON.stringify(key)}:${JSON.stringify(fields[key])}`;
		client.publish(topics.events, json + "}", { qos: 0 });
	};

	// A state, not an event: last value wins while it waits (see mqtt/outbox).
	const ledStateOptions = { qos: 1, retain: true, supersede: true } as const;
	const ledFields = Object.freeze({ pin: config.led.pin });
	const led = new LedActuator({
		output: host.openLed(config.led.pin),
		activeLow: config.led.activeLow,
		publishState: (state) => client.publish(topics.ledState, state, ledStateOptions),
		onChange: (on) => log("info", "led", on ? "on" : "off", ledFields),
		onRejected: (reason, quote) => {
			log("warn", "led", `rejected command: ${reason}`, { payload: quote });
			report("led_command_rejected", reason, { payload: quote });
		},
	});
	const subscribe = (): void => {
		client.subscribe(topics.ledCommand, 1, (message: InboundMessage) => led.command(message.payload));
		if (config.homeAssistant.discovery) {
			client.subscribe(homeAssistantStatusTopic(config), 1, (message: InboundMessage) => {
				if (message.payload.length === 6 && String.fromCharCode(...message.payload) === "online") announce();
			});
		}
	};

	// Home Assistant discovery: after every CONNACK, and whenever Home
	// Assistant restarts (its birth message), since it may have lost them.
	const announce = (): void => {
		if (!config.homeAssistant.discovery) return;
		for (const { topic, payload } of discoveryMessages(config, firmwareVersion, host.diagnostics?.() ?? {})) client.publish(topic, payload, { qos: 1, retain: true });
		log("info", "discovery", "announced to Home Assistant", { prefix: config.homeAssistant.prefix });
	};
	subscribe();

	// Made once per configuration: a reading goes out every interval, and its options never change.
	let readingOptions = { qos: sensor.qos, retain: sensor.retain };
	const makeTelemetry = (): Telemetry => new Telemetry({
		host,
		openSensor: () => host.openSensor({ kind: sensor.kind, sda: sensor.sda, scl: sensor.scl, address: sensor.address, pin: sensor.pin }),
		publish: (payload) => {
			client.publish(topics.temperature, payload, readingOptions);
		},
		interval: sensor.interval,
		precision: sensor.precision,
		offset: sensor.offset,
		deadband: sensor.deadband,
		heartbeat: sensor.heartbeat,
		onFault: (message, consecutive) => {
			log("error", "sensor", message, { consecutive });
			report("sensor_fault", message, { consecutive, failures: telemetry.failures });
		},
		onRecovered: (after) => {
			const message = `recovered after ${after} failed sample${after === 1 ? "" : "s"}`;
			log("info", "sensor", message);
			report("sensor_recovered", message, { failures: telemetry.failures });
		},
		// Handed to the client is not yet on the wire: "queued" (the client's sent count says when it went).
		onReading: (temperature, queued) => log("info", "telemetry", queued ? `reading ${telemetry.published} queued: ${temperature} °C` : `${temperature} °C unchanged (dead-band): not published`),
	});
	let telemetry = makeTelemetry();

	// The one place the firmware reads the client's counts.
	const mqttCounts = () => {
		const stats = client.stats;
		return {
			outbox: client.queued, inflight: client.inflight,
			connects: stats.connects, reconnects: stats.reconnects, sent: stats.sent, received: stats.received,
			dropped: stats.dropped, protocolErrors: stats.protocolErrors, lastRoundTrip: stats.lastRoundTrip ?? null,
		};
	};

	const diagnostics = new Diagnostics({
		host,
		version: firmwareVersion,
		interval: config.diagnostics.interval,
		online: () => client.state === "connected",
		counts: () => {
			const counts = mqttCounts();
			return {
				wifiReconnects: wifi.drops, mqttReconnects: counts.reconnects, readingsDropped: counts.dropped,
				sensorFaults: telemetry.failures, commandsRejected: led.rejected,
			};
		},
		publish: (payload) => client.publish(topics.diagnostics, payload, { qos: 0, retain: true }),
	});

	let mqttStarted = false;
	const makeWifi = (): WifiManager => new WifiManager({
		host,
		ssid: config.wifi.ssid,
		password: config.wifi.password,
		connectTimeout: config.wifi.connectTimeout,
		setupAfter: config.wifi.setupAfter,
		backoff: config.wifi.backoff,
		...(random ? { random } : {}),
		onChange: (state, reason) => {
			log(state === "waiting" ? "warn" : "info", "wifi", `${state}: ${reason}`);
			if (stopped) return;
			if (state === "connected") {
				host.syncClock?.(config.time.sntpServer);
				if (mqttStarted) client.resume();
				else {
					mqttStarted = true;
					client.start();
				}
			} else if (mqttStarted) {
				client.suspend("Wi-Fi is down");
			}
		},
	});
	let wifi = makeWifi();

	log("info", "firmware", `room1 firmware ${firmwareVersion} starting on ${host.name}`, {
		clientId: mqtt.clientId, broker: `${mqtt.tls ? "mqtts" : "mqtt"}://${mqtt.host}:${mqtt.port}`, sensor: sensor.kind, interval: sensor.interval,
	});
	wifi.start();
	telemetry.start();

	/** A new broker or topics: the readings not yet acknowledged go to the new client, on the new topic, in order. */
	const restartMqtt = (previous: FirmwareConfig["topics"], wifiRestarts: boolean): void => {
		const unsent = client.unsent().filter((message) => message.topic === previous.temperature);
		// As an orderly shutdown does: the broker left behind is told, not left to think we are online.
		if (client.state === "connected") client.publish(previous.status, "offline", { qos: 1, retain: true });
		client.stop();
		client = makeClient();
		subscribe();
		for (const message of unsent) client.publish(topics.temperature, message.payload, { qos: message.qos, retain: message.retain });
		mqttStarted = false;
		if (!wifiRestarts && wifi.state === "connected") {
			mqttStarted = true;
			client.start();
		}
	};

	const restartTelemetry = (): void => {
		const previous = telemetry;
		previous.stop();
		telemetry = makeTelemetry();
		// The same device, the same count: a gap in seq still means a lost reading.
		telemetry.samples = previous.samples;
		telemetry.published = previous.published;
		telemetry.suppressed = previous.suppressed;
		telemetry.failures = previous.failures;
		telemetry.start();
	};

	const restartWifi = (): void => {
		wifi.stop();
		if (mqttStarted) client.suspend("Wi-Fi settings changed");
		wifi = makeWifi();
		wifi.start();
	};

	const handle: Firmware = {
		shutdown(): void {
			if (stopped) return;
			stopped = true;
			telemetry.stop();
			diagnostics.stop();
			const connected = client.state === "connected";
			if (connected) client.publish(topics.status, "offline", { qos: 1, retain: true });
			client.stop();
			wifi.stop();
			log("info", "firmware", connected ? "stopped: offline published"
				: client.stats.connects > 0 ? "stopped while disconnected: the broker publishes the will (offline)" : "stopped: never connected, so nothing to publish");
			host.exit?.();
		},
		setLed(on: boolean): void {
			led.set(on);
		},
		reconfigure(next: FirmwareConfig): FirmwarePart[] {
			if (stopped) return [];
			const parts = changedParts(config, next);
			const previousTopics = topics;
			config = next;
			({ topics, mqtt, sensor } = next);
			readingOptions = { qos: sensor.qos, retain: sensor.retain };
			if (parts.includes("telemetry")) restartTelemetry();
			if (parts.includes("mqtt")) restartMqtt(previousTopics, parts.includes("wifi"));
			else if (parts.includes("discovery") && client.state === "connected") announce();
			if (parts.includes("wifi")) restartWifi();
			if (parts.length) log("info", "firmware", `new settings: restarted ${parts.join(", ")}`);
			return parts;
		},
		status(): Record<string, unknown> {
			const counts = mqttCounts();
			return {
				wifi: wifi.state,
				accessPoint: wifi.accessPoint ?? null,
				mqtt: client.state,
				led: led.on ? "on" : "off",
				temperature: telemetry.lastTemperature ?? null,
				humidity: telemetry.lastHumidity ?? null,
				readings: telemetry.published,
				samples: telemetry.samples,
				sensorFailures: telemetry.failures,
				ledCommands: led.commands,
				ledRejected: led.rejected,
				...counts,
				wifiDrops: wifi.drops,
				diagnostics: diagnostics.sent,
			};
		},
	};
	host.attach?.(handle);
	return handle;
}
