/*
 * RAM on the real SDK: the firmware built by Moddable's own tools for the
 * Linux desktop simulator as an instrumented release (`mcconfig -m -p lin
 * -i`), run in mcsim against mosquitto. mcsim then prints Moddable's
 * instrumentation every second (`instruments:`); this reads XS's slot and
 * chunk heaps after boot and connect, and again after N readings.
 *
 * XS collects garbage only when a heap runs out, so a single sample includes
 * garbage: each figure is the lowest sample in a 10-second window, which
 * follows a collection. The simulator is 64-bit: a slot is 32 bytes there,
 * 16 on the ESP32; the instrumentation reports bytes.
 */
import mqtt from "mqtt";
import { Mosquitto } from "../test/support/mosquitto.js";
import { buildSimulatorApp, findSdk, Simulator } from "../test/support/mcsim.js";
import { waitFor } from "../test/support/wait.js";
import fs from "node:fs";

export interface RamFigures {
	readings: number;
	boot: Sample;
	after: Sample;
}

export interface Sample {
	slotBytes: number;
	chunkBytes: number;
	collections: number;
}

/** The simulator's instrumentation lines, by name. */
function samples(lines: string[]): Record<string, number>[] {
	const key = lines.find((line) => line.startsWith("instruments key: "));
	if (!key) return [];
	const names = key.slice("instruments key: ".length).split(",");
	return lines.filter((line) => line.startsWith("instruments: ")).map((line) => {
		const values = line.slice("instruments: ".length).split(",").map(Number);
		return Object.fromEntries(names.map((name, i) => [name, values[i]!]));
	});
}

function lowest(window: Record<string, number>[], collectionsSoFar: number): Sample {
	const slot = Math.min(...window.map((sample) => sample["Slot used"]!));
	const chunk = Math.min(...window.map((sample) => sample["Chunk used"]!));
	return { slotBytes: slot, chunkBytes: chunk, collections: collectionsSoFar };
}

export async function moddableRam(readings: number): Promise<RamFigures | { skipped: string }> {
	const sdk = findSdk();
	if ("missing" in sdk) return { skipped: sdk.missing };
	if (!fs.existsSync("/usr/bin/xvfb-run")) return { skipped: "mcsim needs xvfb-run" };
	const broker = await Mosquitto.start();
	let watcher: mqtt.MqttClient | undefined;
	let simulator: Simulator | undefined;
	try {
		const prefix = "ram";
		const app = await buildSimulatorApp(sdk.moddable, {
			ssid: "sim", mqtt_host: "127.0.0.1", mqtt_port: String(broker.port), mqtt_client_id: `${prefix}-device`,
			sensor_interval: "100", topic_temperature: `${prefix}/room1/temp`, topic_status: `${prefix}/room1/status`,
			topic_events: `${prefix}/room1/status/events`, topic_led_command: `${prefix}/room1/led`, topic_led_state: `${prefix}/room1/led/state`,
		}, { instrument: true });
		let count = 0;
		watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: `${prefix}-watcher`, reconnectPeriod: 0 });
		watcher.on("message", () => void count++);
		await watcher.subscribeAsync(`${prefix}/room1/temp`, { qos: 1 });
		simulator = Simulator.start(sdk.moddable, app);
		const sim = simulator;
		const collections = (list: Record<string, number>[]): number => list.reduce((sum, sample) => sum + (sample["Garbage collections"] ?? 0), 0);
		const alive = (): void => {
			if (!sim.running) throw new Error(`mcsim exited:\n${sim.trace}`);
		};
		await waitFor(() => (alive(), count >= 1), 60000, "the first reading");
		const bootStart = samples(sim.lines).length;
		await waitFor(() => (alive(), samples(sim.lines).length >= bootStart + 10), 30000, "10 s of instrumentation after connect");
		const boot = lowest(samples(sim.lines).slice(bootStart), collections(samples(sim.lines)));
		const target = count + readings;
		await waitFor(() => (alive(), count >= target), readings * 200 + 60000, `${readings} more readings`);
		const afterStart = samples(sim.lines).length;
		await waitFor(() => (alive(), samples(sim.lines).length >= afterStart + 10), 30000, "10 s of instrumentation after the readings");
		const after = lowest(samples(sim.lines).slice(afterStart), collections(samples(sim.lines)));
		return { readings, boot, after };
	} finally {
		await simulator?.kill();
		await watcher?.endAsync(true);
		await broker.stop();
	}
}
