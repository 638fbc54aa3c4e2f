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
import { deviceIdentity, hostLabel, TakeoverWatch, takeoverCount, takeoverWindow } from "firmware/identity";

export const firmwareVersion = "0.1.0";

export interface FirmwareOptions {
	/** Random source for backoff jitter; seeded in tests. Default: the host's, else Math.random. */
	random?: () => number;
}

export function startFirmware(host: Host, config: FirmwareConfig, options: FirmwareOptions = {}): FirmwareHandle {
	const log = (level: LogLevel, tag: string, message: string, fields?: Record<string, unknown>): void => host.log(level, tag, message, fields);
	const { topics, mqtt, sensor } = config;
	const random = options.random ?? host.random;
	let stopped = false;
	// A failed attempt's reason is logged once, on the "waiting" line that says when the next one is.
	const retryKinds = ["transport", "timeout", "refused", "protocol"];
	const identity = deviceIdentity(mqtt.clientId, host.wifi.mac?.());
	const takeover = new TakeoverWatch();

	const client = new MqttClient({
		host,
		address: mqtt.host,
		dns: mqtt.dns,
		port: mqtt.port,
		tls: mqtt.tls,
		clientId: identity.id,
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
			takeover.connected(host.clock.now());
			log("info", "mqtt", "connected", { broker: `${mqtt.host}:${mqtt.port}`, sessionPresent });
			led.publishState();
			announce();
			diagnostics.send();
		},
		onError: (kind, message) => {
			if (kind === "transport" && takeover.lost(host.clock.now())) {
				const problem = `another client with the same id "${identity.id}" is probably connected: the broker closed our connection ${takeoverCount} times within ${takeoverWindow / 1000} s of CONNACK (it drops the older of two clients with one id); give each device its own mqtt_client_id`;
				log("error", "mqtt", problem, { clientId: identity.id });
				report("client_id_taken", problem, { clientId: identity.id });
			}
			if (!retryKinds.includes(kind)) log(kind === "oversize" || kind === "limit" ? "warn" : "error", "mqtt", message, { kind });
		},
		// A message skipped for its size never reaches its handler: an LED command is refused
		// and reported like any other; anything else still goes on the events topic.
		onSkipped: ({ topic, reason }) => {
			if (topic === topics.ledCommand) led.refuseUnread(reason);
			else report("message_skipped", reason, { topic: topic ?? null });
		},
	});

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
	client.subscribe(topics.ledCommand, 1, (message: InboundMessage) => led.command(message.payload));

	// Home Assistant discovery: after every CONNACK, and whenever Home
	// Assistant restarts (its birth message), since it may have lost them.
	const announce = (): void => {
		if (!config.homeAssistant.discovery) return;
		for (const { topic, payload } of discoveryMessages(config, identity.id, firmwareVersion, host.diagnostics?.() ?? {})) client.publish(topic, payload, { qos: 1, retain: true });
		log("info", "discovery", "announced to Home Assistant", { prefix: config.homeAssistant.prefix });
	};
	if (config.homeAssistant.discovery) {
		client.subscribe(homeAssistantStatusTopic(config), 1, (message: InboundMessage) => {
			if (message.payload.length === 6 && String.fromCharCode(...message.payload) === "online") announce();
		});
	}

	// Made once: a reading goes out every interval, and its options never change.
	const readingOptions = { qos: sensor.qos, retain: sensor.retain };
	const telemetry = new Telemetry({
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
	const wifi = new WifiManager({
		host,
		ssid: config.wifi.ssid,
		password: config.wifi.password,
		connectTimeout: config.wifi.connectTimeout,
		setupAfter: config.wifi.setupAfter,
		identity: identity.id,
		backoff: config.wifi.backoff,
		...(random ? { random } : {}),
		onChange: (state, reason) => {
			log(state === "waiting" ? "warn" : "info", "wifi", `${state}: ${reason}`);
			if (stopped) return;
			if (state === "connected") {
				host.syncClock?.(config.time.sntpServer);
				host.advertise?.(hostLabel(identity.id), config.http.enabled ? config.http.port : undefined);
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

	log("info", "firmware", `room1 firmware ${firmwareVersion} starting on ${host.name}`, {
		clientId: identity.id, identity: identity.source, broker: `${mqtt.tls ? "mqtts" : "mqtt"}://${mqtt.host}:${mqtt.port}`, sensor: sensor.kind, interval: sensor.interval,
	});
	wifi.start();
	telemetry.start();

	const handle: FirmwareHandle = {
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
		ledCommand(command): boolean {
			led.apply(command);
			return led.on;
		},
		recentReadings: () => telemetry.recent(),
		status(): Record<string, unknown> {
			const counts = mqttCounts();
			return {
				wifi: wifi.state,
				accessPoint: wifi.accessPoint ?? null,
				mqtt: client.state,
				led: led.on ? "on" : "off",
				temperature: telemetry.lastTemperature ?? null,
				precision: sensor.precision,
				humidity: telemetry.lastHumidity ?? null,
				recorded: telemetry.recorded,
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
