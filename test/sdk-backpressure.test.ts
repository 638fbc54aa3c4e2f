/*
 * Back-pressure with the real Moddable SDK: the firmware built by
 * `mcconfig -m -p lin`, in mcsim, whose ECMA-419 socket takes 1,536 bytes
 * per poll and throws "would block" past it. Before the client honoured
 * that budget, both setups here ended in `XS abort: unhandled exception`
 * right after connecting (a reset loop on a board). Skipped, saying so,
 * where no SDK is installed. The budget counted byte by byte is
 * test/portable/mqtt-client-backpressure.ts; longer faults on the XS host
 * simulator, test/firmware-long-faults.test.ts.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { Mosquitto } from "../tools/rigs/mosquitto.js";
import { buildSimulatorAppFor, requireSdk, Simulator } from "../tools/rigs/mcsim.js";
import { waitFor } from "../tools/rigs/wait.js";

interface Watched {
	topic: string;
	payload: string;
}

/** Sequence numbers of the readings received, checked: from 1, none missing, none out of order. */
function assertEveryReading(messages: Watched[], topic: string, trace: string): number {
	const seqs = messages.filter((m) => m.topic === topic).map((m) => (JSON.parse(m.payload) as { seq: number }).seq);
	const unique = [...new Set(seqs)];
	assert.deepEqual(unique, unique.map((_, i) => i + 1), `readings 1-${unique.length} in order: ${seqs.join(",")}\ntrace:\n${trace}`);
	return unique.length;
}

describe("back-pressure in mcsim, the real SDK's socket (1,536 bytes per poll)", function () {
	this.timeout(240000);
	let moddable = "";
	let broker: Mosquitto | undefined;
	let watcher: mqtt.MqttClient | undefined;
	let simulator: Simulator | undefined;
	const messages: Watched[] = [];

	before(function () {
		moddable = requireSdk(this);
	});

	afterEach(async function () {
		await simulator?.kill();
		await watcher?.endAsync(true);
		await broker?.stop();
		simulator = watcher = broker = undefined;
		messages.length = 0;
	});

	/** Builds and starts the firmware with these settings against a fresh broker, watched by a persistent subscriber. */
	async function start(test: Mocha.Context, prefix: string, overrides: Record<string, string>): Promise<Record<string, string>> {
		// The watcher's session keeps QoS 0 readings published while it reconnects after a broker restart.
		broker = await Mosquitto.start({ persistent: true, config: ["queue_qos0_messages true"] });
		const topics = { temperature: `${prefix}/temp`, status: `${prefix}/status`, ledState: `${prefix}/led/state` };
		const app = await buildSimulatorAppFor(test, moddable, {
			ssid: "sim", mqtt_host: "127.0.0.1", http_port: "0", mqtt_port: String(broker.port), mqtt_client_id: `${prefix}-device`,
			topic_temperature: topics.temperature, topic_status: topics.status, topic_events: `${prefix}/events`,
			topic_led_command: `${prefix}/led`, topic_led_state: topics.ledState,
			...overrides,
		});
		watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: `${prefix}-watcher`, clean: false, reconnectPeriod: 100 });
		watcher.on("message", (topic, payload) => messages.push({ topic, payload: payload.toString() }));
		await watcher.subscribeAsync([`${prefix}/#`, `homeassistant/+/${prefix}-device/+/config`], { qos: 1 });
		simulator = Simulator.start(moddable, app);
		return topics;
	}

	const alive = (): void => assert.ok(simulator!.running && !simulator!.trace.includes("XS abort"), `mcsim aborted or exited:\n${simulator!.trace}`);

	it("ha_discovery=true, QoS 0 readings every 200 ms: online, LED state, both configs and every reading arrive; no XS abort", async function () {
		const topics = await start(this, "bpha", { ha_discovery: "true", sensor_qos: "0", sensor_interval: "200" });
		await waitFor(() => messages.some((m) => m.topic === topics.status && m.payload === "online"), 60000, `online; trace:\n${simulator!.trace}`);
		await waitFor(() => messages.filter((m) => m.topic.endsWith("/config")).length >= 2 && messages.some((m) => m.topic === topics.ledState), 10000, "discovery and LED state");
		// Long enough for the first turns, and a reading every 200 ms after them.
		await new Promise((resolve) => setTimeout(resolve, 4000));
		alive();
		for (const config of messages.filter((m) => m.topic.endsWith("/config"))) assert.ok((JSON.parse(config.payload) as { unique_id?: string }).unique_id, config.topic);
		assert.ok(assertEveryReading(messages, topics.temperature, simulator!.trace) >= 20);
	});

	it("sensor_qos=0, a reading every 200 ms, through a 10 s broker outage: no reading lost, all in order; no XS abort", async function () {
		// The backoff is capped at 2 s so that the outage, and the wait for the next attempt, stay within the
		// outbox's 100 messages (20 s of readings): with the default cap of 60 s and full jitter, one run
		// waited 15 s after the broker was back, and the outbox rightly dropped its oldest readings.
		const topics = await start(this, "bpq0", { sensor_qos: "0", sensor_interval: "200", mqtt_backoff_max: "2000" });
		await waitFor(() => messages.some((m) => m.topic === topics.status && m.payload === "online"), 60000, `online; trace:\n${simulator!.trace}`);
		await new Promise((resolve) => setTimeout(resolve, 2000));
		await broker!.stop();
		await new Promise((resolve) => setTimeout(resolve, 10000));
		alive();
		const before = messages.length;
		await broker!.restart();
		// Back within the backoff (at most 2 s here, with jitter).
		await waitFor(() => messages.slice(before).some((m) => m.topic === topics.temperature), 60000, `readings after the outage; trace:\n${simulator!.trace}`);
		await new Promise((resolve) => setTimeout(resolve, 3000));
		alive();
		const published = simulator!.lines.filter((line) => /telemetry: reading \d+ queued/.test(line)).length;
		const received = assertEveryReading(messages, topics.temperature, simulator!.trace);
		assert.ok(received >= published - 2 && received >= 60, `${received} of ${published} readings (the last may still be on their way)`);
		assert.ok(simulator!.lines.some((line) => /mqtt: waiting: /.test(line)), "the outage was seen");
	});
});
