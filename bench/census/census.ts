/*
 * A census of the firmware's XS heap: each part is made in turn, as
 * startDevice makes it, with a full collection and Moddable's
 * instrumentation before and after, so the difference is what that part
 * keeps alive. Built by `mcconfig -m -p lin -i` from this folder (the
 * project's manifest included, this module as main) and run in mcsim;
 * bench/moddable-ram.ts reads its `census:` lines. Not preloaded, so its
 * own cost is in every sample alike and cancels out.
 *
 * The firmware is then broken down: its parts are made alone, one at a
 * time, with the options startFirmware gives them (`census: firmware/…`
 * lines, each made and dropped), and what startFirmware keeps beyond them
 * is its own glue. Last, with a broker at mqtt_host:mqtt_port, what a live
 * connection adds: the census waits for the firmware's CONNACK and SUBACK,
 * then counts again (`census: connected,…`).
 */
import Instrumentation from "instrumentation";
import Debug from "debug";
import Timer from "timer";
import config from "mc/config";
import { createHost } from "host";
import type { Host } from "platform";
import { Settings } from "web/settings";
import { firmwareVersion, startFirmware } from "firmware/app";
import { discoveryMessages } from "firmware/discovery";
import { deviceIdentity, TakeoverWatch } from "firmware/identity";
import { WifiManager } from "firmware/wifi";
import { Telemetry } from "firmware/telemetry";
import { LedActuator } from "firmware/led";
import { Diagnostics } from "firmware/diagnostics";
import { MqttClient } from "mqtt/client";
import { Session } from "mqtt/session";
import { Outbox } from "mqtt/outbox";
import { InflightWindow } from "mqtt/inflight";
import { InboundAcks } from "mqtt/inbound";
import { Subscriptions } from "mqtt/subscriptions";
import { PublishBuffers } from "mqtt/publish-buffers";
import { PacketParser } from "mqtt/parser";
import { Deadlines } from "mqtt/deadlines";
import { Backoff } from "backoff";
import { Connector } from "net/connector";
import { BrokerAddress } from "net/resolution";
import { HttpServer } from "web/server";
import { FirmwareUpdates } from "web/update";
import { route, type DeviceApi } from "web/api";
import type { FirmwareConfig } from "config";

function used(): [number, number] {
	Debug.gc();
	return [Number(Instrumentation.get(Instrumentation.map("XS Slot Heap Used")!)), Number(Instrumentation.get(Instrumentation.map("XS Chunk Heap Used")!))];
}

const kept: unknown[] = [];

function line(name: string, slots: number, chunks: number): void {
	trace(`census: ${name},${slots / 32},${chunks}\n`);
}

/** What `make`'s result keeps alive; it is kept for the census's total when `keep`. */
function part<T>(name: string, make: () => T, keep = true): T {
	const [slotsBefore, chunksBefore] = used();
	const made = make();
	if (keep) kept.push(made);
	const [slotsAfter, chunksAfter] = used();
	line(name, slotsAfter - slotsBefore, chunksAfter - chunksBefore);
	return made;
}

/** The firmware's parts alone, each as startFirmware makes it; dropped after counting. */
function firmwareParts(host: Host, parsed: FirmwareConfig): void {
	const { mqtt, topics, sensor } = parsed;
	const identity = deviceIdentity(mqtt.clientId, host.wifi.mac?.());
	const random = host.random;
	const log = (): void => undefined;
	const publish = (_payload: string): void => undefined;
	part("firmware/MQTT client, idle (MqttClient with its session)", () => new MqttClient({
		host, address: mqtt.host, dns: mqtt.dns, port: mqtt.port, tls: mqtt.tls, clientId: identity.id, cleanSession: mqtt.cleanSession,
		keepalive: mqtt.keepalive, username: mqtt.username || undefined, password: mqtt.password || undefined,
		will: { topic: topics.status, payload: "offline", qos: 1, retain: true },
		birth: { topic: topics.status, payload: "online", qos: 1, retain: true },
		connackTimeout: mqtt.connackTimeout, pingTimeout: mqtt.pingTimeout, backoff: mqtt.backoff, ...(random ? { random } : {}),
		outbox: mqtt.outbox, maxInflight: mqtt.maxInflight, maxPacketSize: mqtt.maxPacketSize, maxTopicBytes: mqtt.maxTopicBytes, oversize: "skip",
		onStateChange: log, onResolved: log, onConnect: log, onError: log, onSkipped: log,
	}), false);
	// Made anew for each part: a part keeps of its options only what it keeps itself.
	const sessionOptions = () => ({
		clientId: identity.id, cleanSession: mqtt.cleanSession, keepalive: mqtt.keepalive, username: undefined, password: undefined,
		will: { topic: topics.status, payload: new Uint8Array(7), qos: 1 as const, retain: true },
		birth: { topic: topics.status, payload: new Uint8Array(6), qos: 1 as const, retain: true },
		connackTimeout: mqtt.connackTimeout, pingTimeout: mqtt.pingTimeout, outbox: mqtt.outbox, maxInflight: mqtt.maxInflight,
		maxInboundPending: 32, maxPacketSize: mqtt.maxPacketSize, maxTopicBytes: mqtt.maxTopicBytes, oversize: "skip" as const, utf8: host.utf8,
	});
	part("firmware/MQTT session alone (Session)", () => new Session(sessionOptions(), { closeTransport: log, failed: log, stateChanged: log, connected: log, error: log, skipped: log }), false);
	part("firmware/session: outbox (Outbox)", () => new Outbox(mqtt.outbox), false);
	part("firmware/session: in-flight window (InflightWindow)", () => new InflightWindow(mqtt.maxInflight), false);
	part("firmware/session: inbound acks (InboundAcks)", () => new InboundAcks(32), false);
	part("firmware/session: subscriptions and routes (Subscriptions)", () => new Subscriptions(undefined, { maxTopicBytes: mqtt.maxTopicBytes ?? 65535, maxPacketSize: mqtt.maxPacketSize }, () => 1, log), false);
	part("firmware/session: PUBLISH buffers (PublishBuffers)", () => new PublishBuffers(), false);
	part("firmware/session: packet parser (PacketParser)", () => new PacketParser({ maxPacketSize: mqtt.maxPacketSize, maxTopicBytes: mqtt.maxTopicBytes, oversize: "skip", utf8: host.utf8 }, { packet: log, publish: log, error: log, skipped: log }), false);
	part("firmware/session: deadlines (Deadlines)", () => new Deadlines(sessionOptions()), false);
	part("firmware/client: backoff (Backoff)", () => new Backoff({ ...mqtt.backoff }, random ?? Math.random), false);
	part("firmware/client: connector (Connector, BrokerAddress)", () => new Connector(host, new BrokerAddress(mqtt.host, { servers: mqtt.dns?.servers ?? [], timeout: mqtt.dns?.timeout ?? 5000 })), false);
	part("firmware/Wi-Fi manager (WifiManager)", () => new WifiManager({
		host, ssid: parsed.wifi.ssid, password: parsed.wifi.password, connectTimeout: parsed.wifi.connectTimeout, setupAfter: parsed.wifi.setupAfter,
		identity: identity.id, backoff: parsed.wifi.backoff, ...(random ? { random } : {}), onChange: log,
	}), false);
	part("firmware/telemetry (Telemetry)", () => new Telemetry({
		host, openSensor: () => host.openSensor({ kind: sensor.kind, sda: sensor.sda, scl: sensor.scl, address: sensor.address, pin: sensor.pin }),
		publish, interval: sensor.interval, precision: sensor.precision, offset: sensor.offset, deadband: sensor.deadband, heartbeat: sensor.heartbeat,
		onFault: log, onRecovered: log, onReading: log,
	}), false);
	part("firmware/LED (LedActuator)", () => new LedActuator({ output: host.openLed(parsed.led.pin), activeLow: parsed.led.activeLow, publishState: log, onChange: log, onRejected: log }), false);
	part("firmware/diagnostics (Diagnostics)", () => new Diagnostics({ host, version: firmwareVersion, interval: parsed.diagnostics.interval, online: () => false, counts: () => ({ wifiReconnects: 0, mqttReconnects: 0, readingsDropped: 0, sensorFaults: 0, commandsRejected: 0 }), publish }), false);
	part("firmware/takeover watch and identity", () => [new TakeoverWatch(), deviceIdentity(mqtt.clientId, host.wifi.mac?.())], false);
}

export default function census(): void {
	const [slots, chunks] = used();
	line("before anything", slots, chunks);
	const host = part("host object (createHost)", () => createHost());
	const settings = part("stored settings (Settings)", () => new Settings(config, host.settings));
	const parsed = part("parsed configuration (settings.config())", () => settings.config());
	part("Home Assistant discovery payloads", () => discoveryMessages(parsed, deviceIdentity(parsed.mqtt.clientId, host.wifi.mac?.()).id, firmwareVersion, host.diagnostics?.() ?? {}));
	firmwareParts(host, parsed);
	const firmware = part("firmware: Wi-Fi manager, MQTT client, session, outbox, in-flight window, telemetry, LED", () => startFirmware(host, parsed));
	const updates = part("firmware updates (FirmwareUpdates)", () => new FirmwareUpdates(host));
	const api = { status: () => firmware.status(), password: () => "", beginUpdate: (request: never) => updates.begin(request) } as unknown as DeviceApi;
	part("web server listening (HttpServer)", () => new HttpServer({ host, port: 0, handle: (request) => route(request, api) }));
	const [slotsAll, chunksAll] = used();
	line("all", slotsAll, chunksAll);
	// A live connection: counted once the firmware is connected and its subscription granted, between readings.
	let waited = 0;
	const poll = Timer.repeat(() => {
		waited += 250;
		const status = firmware.status();
		if (status.mqtt !== "connected" && waited < 20000) return;
		Timer.clear(poll);
		Timer.set(() => {
			const [slotsLive, chunksLive] = used();
			line(`connected (${String(status.mqtt)}${parsed.mqtt.tls ? ", TLS" : ", TCP"})`, slotsLive, chunksLive);
			line("connected, over all", slotsLive - slotsAll, chunksLive - chunksAll);
		}, 1500);
	}, 250);
}
