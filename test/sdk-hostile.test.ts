/*
 * Hostile input against the firmware the real Moddable SDK builds for the
 * desktop simulator (`mcconfig -m -p lin -i`, an instrumented release), in
 * mcsim: the shared case list (test/support/hostile.ts; the XS host
 * simulator runs it in test/firmware-hostile.test.ts). This is where the board's
 * limits are real: the fixed 80 KB arena and its 512-slot stack, the release build's dead-stripped
 * `__proto__`, the SDK's sockets that its owner must close. Around the
 * cases: no XS abort, mcsim still running, every reading in order without
 * a gap, and the network sockets, timers and slot heap back near where
 * they started. And with the web port held by another program, the
 * simulator logs a clear error and runs on. Skipped, saying why, without
 * an SDK.
 */
import assert from "node:assert/strict";
import net from "node:net";
import mqtt from "mqtt";
import { Mosquitto } from "../tools/rigs/mosquitto.js";
import { buildSimulatorApp, instrumentSamples, requireSdk, Simulator } from "../tools/rigs/mcsim.js";
import { itEachHostileCase, type HostileTarget } from "./support/hostile.js";
import { assertNoGaps } from "./support/readings.js";
import { waitFor } from "../tools/rigs/wait.js";

/** The lowest value of an instrument over the last `seconds` samples (XS collects only when a heap runs out). */
function lowest(simulator: Simulator, name: string, seconds: number): number {
	const samples = instrumentSamples(simulator.lines).slice(-seconds);
	return Math.min(...samples.map((sample) => sample[name] ?? Infinity));
}

const latest = (simulator: Simulator, name: string): number | undefined => instrumentSamples(simulator.lines).at(-1)?.[name];

describe("hostile input in mcsim (the real SDK, instrumented)", function () {
	// Building under load takes minutes; the cases themselves about one.
	this.timeout(300000);
	const prefix = "mcsim-hostile";
	let moddable = "";
	let broker: Mosquitto | undefined;
	let watcher: mqtt.MqttClient | undefined;
	let simulator: Simulator | undefined;
	const seqs: number[] = [];
	let target: HostileTarget;
	const baseline: Record<string, number> = {};

	const alive = (): void => {
		const sim = simulator!;
		assert.ok(sim.running, `mcsim exited:\n${sim.trace.slice(-4000)}`);
		assert.ok(!sim.lines.some((line) => line.includes("XS abort")), `XS aborted:\n${sim.lines.filter((line) => !line.startsWith("instruments")).slice(-40).join("\n")}`);
	};

	before(async function () {
		// Building under load takes minutes.
		this.timeout(600000);
		moddable = requireSdk(this);
		broker = await Mosquitto.start();
		const app = await buildSimulatorApp(moddable, {
			ssid: "sim", http_port: "0", mqtt_host: "127.0.0.1", mqtt_port: String(broker.port), mqtt_client_id: `${prefix}-device`,
			sensor_interval: "500", sensor_qos: "1", topic_temperature: `${prefix}/temp`, topic_status: `${prefix}/status`,
			topic_events: `${prefix}/events`, topic_led_command: `${prefix}/led`, topic_led_state: `${prefix}/led/state`,
			topic_diagnostics: `${prefix}/diagnostics`,
		}, { instrument: true });
		watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: `${prefix}-watcher`, reconnectPeriod: 0 });
		watcher.on("message", (_topic, payload) => seqs.push((JSON.parse(payload.toString()) as { seq: number }).seq));
		await watcher.subscribeAsync(`${prefix}/temp`, { qos: 1 });
		const sim = simulator = Simulator.start(moddable, app);
		const page = (): RegExpExecArray | null => sim.lines.map((line) => /^INFO {2}http: web page at http:\/\/<device>:(\d+)\//.exec(line)).find(Boolean) ?? null;
		// The baseline is a sample taken once MQTT is connected: its socket opens a few seconds in, after the
		// simulated Wi-Fi, and the queued readings arrive within the second, before the next sample.
		const connected = (): number => sim.lines.findLastIndex((line) => line.startsWith("INFO  mqtt: connected"));
		await waitFor(() => (page() !== null && seqs.length >= 3 && connected() >= 0 && instrumentSamples(sim.lines, connected()).length >= 1
			&& instrumentSamples(sim.lines).length >= 5) || !sim.running, 90000, "the page, three readings, five instrument samples and one since MQTT connected")
			.catch((error: Error) => {
				throw new Error(`${error.message}; trace:\n${sim.trace.slice(-4000)}`);
			});
		alive();
		target = { url: `http://127.0.0.1:${page()![1]}`, alive };
		for (const name of ["Network sockets", "Timers"]) baseline[name] = latest(sim, name)!;
		baseline["Slot used"] = lowest(sim, "Slot used", 5);
		// The SDK counts every ECMA-419 TCP socket, not the listener (modules/io/socket/lin/tcp.c): before any
		// attack the MQTT connection is the one open, so a socket the web server leaks shows as one more.
		assert.equal(baseline["Network sockets"], 1, `network sockets before the attacks, with MQTT connected:\n${sim.trace.slice(-4000)}`);
	});

	after(async function () {
		await simulator?.kill();
		await watcher?.endAsync(true);
		await broker?.stop();
	});

	itEachHostileCase(() => target, () => `the trace's last lines:\n${simulator!.lines.filter((line) => !line.startsWith("instruments")).slice(-30).join("\n")}`);

	it("afterwards: sockets and timers back where they were, the slot heap near it, every reading in order without a gap", async function () {
		const sim = simulator!;
		const count = seqs.length;
		await waitFor(() => seqs.length >= count + 3, 20000, "readings after the attacks");
		// Sockets and timers come back once the server has closed what it owns: wait for it, then compare.
		await waitFor(() => latest(sim, "Network sockets")! <= baseline["Network sockets"]! && latest(sim, "Timers")! <= baseline["Timers"]! + 1, 30000,
			"sockets and timers back").catch(() => undefined);
		// The low point over the last 10 samples, as for the heap: a socket the test's own last request left closing is not a leak.
		const [sockets, timers] = [lowest(sim, "Network sockets", 10), lowest(sim, "Timers", 10)];
		assert.ok(sockets <= baseline["Network sockets"]!, `network sockets ${baseline["Network sockets"]} before, ${sockets} after`);
		assert.ok(timers <= baseline["Timers"]! + 1, `timers ${baseline["Timers"]} before, ${timers} after`);
		// The slot heap's low point after the attacks (garbage is only collected when the heap runs out): within half again and 64 KB.
		await new Promise((resolve) => setTimeout(resolve, 10000));
		const slots = lowest(sim, "Slot used", 10);
		assert.ok(slots <= baseline["Slot used"]! * 1.5 + 65536, `slot heap ${baseline["Slot used"]} bytes before, ${slots} after`);
		assertNoGaps(seqs);
		alive();
	});
});

describe("the desktop simulator with its web port held by another program (mcsim)", function () {
	// Building under load takes minutes.
	this.timeout(600000);
	let broker: Mosquitto | undefined;
	let holder: net.Server | undefined;
	const held = new Set<net.Socket>();
	let simulator: Simulator | undefined;

	after(async function () {
		await simulator?.kill();
		await broker?.stop();
		for (const socket of held) socket.destroy();
		await new Promise((resolve) => holder ? holder.close(resolve) : resolve(undefined));
	});

	it("logs a clear error and runs on, publishing, without the page", async function () {
		const moddable = requireSdk(this);
		broker = await Mosquitto.start();
		// Another server: it keeps what it accepts open, as a web server waiting for a request does.
		holder = net.createServer((socket) => {
			held.add(socket);
			socket.on("error", () => undefined);
			socket.on("close", () => held.delete(socket));
		});
		await new Promise<void>((resolve) => holder!.listen(0, "0.0.0.0", resolve));
		const port = (holder.address() as net.AddressInfo).port;
		const app = await buildSimulatorApp(moddable, {
			ssid: "sim", http_port: String(port), mqtt_host: "127.0.0.1", mqtt_port: String(broker.port), mqtt_client_id: "mcsim-held-port",
			sensor_interval: "300", topic_temperature: "mcsim-held-port/temp", topic_status: "mcsim-held-port/status",
		});
		const sim = simulator = Simulator.start(moddable, app);
		const refused = `ERROR http: cannot serve the web page: port ${port} is in use by another program`;
		await waitFor(() => sim.lines.some((line) => line.startsWith(refused)) || !sim.running, 90000, "the error").catch((error: Error) => {
			throw new Error(`${error.message}; trace:\n${sim.trace}`);
		});
		// Long enough for collections (a reading every 300 ms): the SDK's failed bind would have crashed one.
		const readings = (): number => sim.lines.filter((line) => line.startsWith("INFO  telemetry: reading")).length;
		const before = readings();
		await waitFor(() => readings() >= before + 20 || !sim.running, 60000, "twenty more readings");
		assert.ok(sim.running, `mcsim exited:\n${sim.trace}`);
		assert.ok(sim.lines.some((line) => line.startsWith("INFO  mqtt: connected")), sim.trace);
	});
});
