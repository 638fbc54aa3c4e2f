/*
 * RAM on the real SDK: the firmware built by Moddable's own tools for the
 * Linux desktop simulator as an instrumented release (`mcconfig -m -p lin
 * -i`), run in mcsim against mosquitto. mcsim then prints Moddable's
 * instrumentation every second (`instruments:`); this reads XS's slot and
 * chunk heaps after boot and connect, and again after N readings.
 *
 * The firmware runs as the budget is stated: over TLS, a reading every
 * 500 ms, its web page served. Moddable's client app runs over plain TCP.
 *
 * XS collects garbage only when a heap runs out, so a single sample includes
 * garbage: each figure is the lowest sample in a 10-second window, which
 * follows a collection. The simulator is 64-bit: a slot is 32 bytes there,
 * 16 on the ESP32; the instrumentation reports bytes.
 */
import mqtt from "mqtt";
import { Mosquitto } from "../tools/rigs/mosquitto.js";
import { makeTestPki, type TestPki } from "../tools/rigs/tls.js";
import { buildSimulatorApp, findSdk, instrumentSamples as samples, Simulator } from "../tools/rigs/mcsim.js";
import { waitFor } from "../tools/rigs/wait.js";
import fs from "node:fs";
import path from "node:path";
import { projectRoot } from "../tools/rigs/xs.js";

export interface RamFigures {
	readings: number;
	boot: Sample;
	after: Sample;
	/** The firmware's run only: over TLS, and after its web page was served. */
	connected?: Sample;
	page?: Sample;
	/** Garbage collections a minute while the readings flowed. */
	collectionsPerMinute: number;
}

export interface Sample {
	slotBytes: number;
	chunkBytes: number;
	collections: number;
}

/** The stack the manifest reserves (creation.stack), in slots: counted whole on the board. */
export const stackSlots = (JSON.parse(fs.readFileSync(path.join(projectRoot, "manifest.json"), "utf8")) as { creation: { stack: number } }).creation.stack;

/**
 * What a sample would take on the ESP32: slots counted at 16 bytes (32 in
 * the simulator), chunks as measured (a 64-bit chunk's header and any slots
 * inside it are larger than on the board, so this overstates), and the
 * reserved stack at 16 bytes a slot.
 */
export function esp32Equivalent(sample: Sample, stack = stackSlots): number {
	return sample.slotBytes / 2 + sample.chunkBytes + stack * 16;
}

function lowest(window: Record<string, number>[], collectionsSoFar: number): Sample {
	const slot = Math.min(...window.map((sample) => sample["Slot used"]!));
	const chunk = Math.min(...window.map((sample) => sample["Chunk used"]!));
	return { slotBytes: slot, chunkBytes: chunk, collections: collectionsSoFar };
}

/**
 * Moddable's own client (examples/io/tcp/mqttclient, unmodified, with its
 * manifest) under our Telemetry, publishing the same readings at QoS 1 to
 * the same topic: an app of its own, written into build/ at bench time.
 */
function moddableClientApp(prefix: string): string {
	const folder = path.join(projectRoot, "build", "moddable-mqttclient-ram");
	fs.mkdirSync(folder, { recursive: true });
	const root = projectRoot;
	fs.writeFileSync(path.join(folder, "manifest.json"), JSON.stringify({
		include: ["$(MODDABLE)/examples/manifest_base.json", "$(MODDABLE)/examples/io/tcp/mqttclient/manifest_mqttclient.json", "$(MODDABLE)/modules/data/text/encoder/manifest.json"],
		modules: { "*": "./main", "firmware/telemetry": `${root}/modules/firmware/telemetry`, platform: `${root}/modules/platform` },
		typescript: { tsconfig: { compilerOptions: { strict: true } } },
		config: { mqtt_port: "1883", topic: `${prefix}/room1/temp` },
	}, null, "\t"));
	fs.writeFileSync(path.join(folder, "main.js"), `import config from "mc/config";
import Timer from "timer";
import Time from "time";
import TextEncoder from "text/encoder";
import { Telemetry } from "firmware/telemetry";

const MQTTClient = device.network.mqtt.io;
const encoder = new TextEncoder();
class Resolver {
	constructor() {}
	resolve(request) { request.onResolved(request.host, request.host); }
}
const host = {
	clock: { now: () => Time.ticks, wallTime: () => Date.now() },
	timers: { set: (callback, delay) => Timer.set(callback, delay), repeat: (callback, interval) => Timer.repeat(callback, interval), clear: (timer) => Timer.clear(timer) },
};
let telemetry;
const client = new MQTTClient({
	...device.network.mqtt,
	dns: { io: Resolver },
	host: "127.0.0.1",
	port: Number(config.mqtt_port),
	id: "${prefix}-moddable",
	keepalive: 0,
	onControl(message) {
		if (message.operation === MQTTClient.CONNACK) telemetry.start();
	},
	onError() { trace("mqttclient error\\n"); },
});
telemetry = new Telemetry({
	host,
	openSensor: () => ({ sample: () => ({ temperature: 21.53 }) }),
	publish(payload) {
		try {
			client.write(encoder.encode(payload), { topic: config.topic, QoS: 1 });
		} catch (error) {
			trace(\`publish refused: \${error.message}\\n\`);
		}
	},
	interval: 100, precision: 2, deadband: 0, heartbeat: 300000,
	onFault() {}, onRecovered() {},
});
export default function main() {}
`);
	return folder;
}

export async function moddableRam(readings: number, which: "firmware" | "moddable-mqttclient" = "firmware"): Promise<RamFigures | { skipped: string }> {
	const sdk = findSdk();
	if ("missing" in sdk) return { skipped: sdk.missing };
	if (!fs.existsSync("/usr/bin/xvfb-run")) return { skipped: "mcsim needs xvfb-run" };
	let broker: Mosquitto | undefined;
	let pki: TestPki | undefined;
	let watcher: mqtt.MqttClient | undefined;
	let simulator: Simulator | undefined;
	try {
		const prefix = "ram";
		const ours = which === "firmware";
		const tls = ours ? makeTestPki() : undefined;
		pki = tls;
		broker = ours ? await Mosquitto.start({ listener: [], tlsListener: { cafile: tls!.caFile, certfile: tls!.certFile, keyfile: tls!.keyFile } }) : await Mosquitto.start();
		const app = which === "moddable-mqttclient"
			? await buildSimulatorApp(sdk.moddable, { mqtt_port: String(broker!.port) }, { instrument: true, project: moddableClientApp(prefix) })
			: await buildSimulatorApp(sdk.moddable, {
			ssid: "sim", mqtt_host: "127.0.0.1", mqtt_port: String(broker!.port), mqtt_client_id: `${prefix}-device`,
			sensor_interval: "500", mqtt_tls: "true", mqtt_tls_ca: tls!.ca.replace(/\n/g, " "), mqtt_tls_server_name: "localhost", http_port: "0", topic_temperature: `${prefix}/room1/temp`, topic_status: `${prefix}/room1/status`,
			topic_events: `${prefix}/room1/status/events`, topic_led_command: `${prefix}/room1/led`, topic_led_state: `${prefix}/room1/led/state`,
		}, { instrument: true });
		let count = 0;
		watcher = await mqtt.connectAsync(ours ? `mqtts://127.0.0.1:${broker.port}` : `mqtt://127.0.0.1:${broker.port}`, { clientId: `${prefix}-watcher`, reconnectPeriod: 0, ...(ours ? { ca: tls!.ca, servername: "localhost" } : {}) });
		watcher.on("message", () => void count++);
		await watcher.subscribeAsync(`${prefix}/room1/temp`, { qos: 1 });
		simulator = Simulator.start(sdk.moddable, app);
		const sim = simulator;
		const collections = (list: Record<string, number>[]): number => list.reduce((sum, sample) => sum + (sample["Garbage collections"] ?? 0), 0);
		const alive = (): void => {
			if (!sim.running) throw new Error(`mcsim exited:\n${sim.lines.slice(-40).join("\n")}`);
		};
		const window = async (what: string): Promise<Sample> => {
			const start = samples(sim.lines).length;
			await waitFor(() => (alive(), samples(sim.lines).length >= start + 10), 30000, `10 s of instrumentation ${what}`);
			return lowest(samples(sim.lines).slice(start), collections(samples(sim.lines)));
		};
		// After boot: before the first reading reaches the broker (for the firmware, before TLS is up).
		await waitFor(() => (alive(), count >= 1), 60000, "the first reading");
		// The first sample is taken before main runs.
		await waitFor(() => (alive(), samples(sim.lines).length >= 2), 30000, "two instrumentation samples");
		const boot = lowest(samples(sim.lines).slice(1), collections(samples(sim.lines)));
		const connected = await window("after connect");
		let page: Sample | undefined;
		if (ours) {
			const port = /http: web page at \S+ port=(\d+)/.exec(sim.trace)?.[1];
			if (!port) throw new Error(`no web page in the trace:\n${sim.trace}`);
			for (const route of ["/", "/api/status", "/api/settings"]) {
				const response = await fetch(`http://127.0.0.1:${port}${route}`).catch((error: Error) => {
					throw new Error(`GET ${route}: ${error.message}; trace:\n${sim.lines.slice(-20).join("\n")}`);
				});
				if (!response.ok) throw new Error(`GET ${route}: ${response.status}`);
				await response.arrayBuffer();
			}
			page = await window("after the page");
		}
		const startedAt = Date.now();
		const collectionsBefore = collections(samples(sim.lines));
		const target = count + readings;
		await waitFor(() => (alive(), count >= target), readings * (ours ? 1000 : 200) + 60000, `${readings} more readings`);
		const minutes = (Date.now() - startedAt) / 60000;
		const collectionsPerMinute = (collections(samples(sim.lines)) - collectionsBefore) / minutes;
		const after = await window("after the readings");
		return { readings, boot: ours ? boot : connected, connected, ...(page ? { page } : {}), after, collectionsPerMinute };
	} finally {
		await simulator?.kill();
		await watcher?.endAsync(true);
		await broker?.stop();
		if (pki) fs.rmSync(pki.dir, { recursive: true, force: true });
	}
}
