/*
 * `npm start`: the firmware on the XS host simulator.
 *
 *   npm start                                  embedded broker (aedes) on 127.0.0.1:1883, or the broker already there
 *   npm start -- --broker mqtt://127.0.0.1:1884  an existing broker instead
 *   npm start -- sensor_interval=2000 ...      config overrides, as on the mcconfig command line
 *   npm start -- --flash FILE                  where settings saved from the web page live (default .sim-flash.json)
 *   npm start -- --help                        usage
 *
 * The web page is served on a free loopback port, printed at start.
 *
 * Every mistake (an unknown argument or key, a bad value) is printed
 * plainly, whether or not stdout is a terminal, and exits with code 2
 * before anything starts. Drive the LED from another terminal:
 * npm run led -- on. Ctrl-C publishes `offline` and exits.
 */
import path from "node:path";
import { ConfigError } from "config";
import { Board, formatLog } from "../hosts/simulated-board/board.js";
import { XsSimulator } from "../hosts/xsnap/node-side.js";
import { workerBinary, workerXsVersion } from "../hosts/xsnap/worker.js";
import { projectRoot } from "../hosts/xsnap/paths.js";
import { chooseBroker, type EmbeddedBroker } from "./embedded-broker.js";
import { render, type DashboardState } from "./dashboard.js";
import {
	defaultBrokerPort, environmentConfig, localManifestConfig, localManifestNote, manifestConfigOf, parseStartArguments, simulatorConfig, usage, UsageError,
} from "./start-options.js";

/** Exit code for a usage or configuration mistake. */
const usageExit = 2;

async function main(): Promise<void> {
	const options = parseStartArguments(process.argv.slice(2), process.env);
	if (options.help) {
		console.log(usage);
		process.exit(0);
	}
	const localFile = path.join(projectRoot, "manifest_local.json");
	const local = localManifestConfig(localFile);
	const layers = {
		manifest: manifestConfigOf(path.join(projectRoot, "manifest.json")),
		local: local ?? {},
		environment: environmentConfig(process.env),
		overrides: options.overrides,
	};
	// Checked before any broker starts: with the board's parts filled in as placeholders.
	simulatorConfig({ ...layers, board: { ssid: "simulator", sensor: layers.environment.sensor ?? "simulated" } });

	let broker: EmbeddedBroker | undefined;
	let host = "127.0.0.1";
	let port: number;
	let note = "";
	if (options.broker) {
		host = options.broker.hostname.replace(/^\[|\]$/g, "");
		port = Number(options.broker.port || 1883);
	} else {
		const choice = await chooseBroker(defaultBrokerPort);
		port = choice.port;
		if (choice.kind === "embedded") broker = choice.broker;
		else note = `a broker already listens on 127.0.0.1:${port}; using it (--broker URL names another)`;
	}

	const config = simulatorConfig({
		...layers,
		// The simulated board's own parts.
		board: { ssid: "simulator", sensor: layers.environment.sensor ?? "simulated", mqtt_host: host, mqtt_port: String(port) },
	});

	// http_port given by the user is served on that port of 127.0.0.1; the manifest's default (a device's 80) on a free one.
	const requestedPort = { ...layers.local, ...layers.environment, ...layers.overrides }.http_port;
	const exactPort = requestedPort !== undefined && Number(requestedPort) > 0;

	// On a terminal, a live dashboard; otherwise (a pipe, a log file, CI) plain log lines.
	const live = process.stdout.isTTY === true && !process.env.NO_DASHBOARD;
	const brokerUrl = `mqtt://${host.includes(":") ? `[${host}]` : host}:${port}`;
	const view: DashboardState = { broker: `${brokerUrl}${broker ? " (embedded)" : note ? " (already running)" : ""}`, wifi: "starting", mqtt: "idle", led: "unknown", temperatures: [], counters: [], logs: [] };
	const board = new Board({
		exactPorts: exactPort,
		flashFile: path.resolve(options.flash ?? path.join(projectRoot, ".sim-flash.json")),
		print: (line) => {
			if (!live) return console.log(line);
			view.logs.push(line);
			if (view.logs.length > 50) view.logs.shift();
		},
	});
	board.led.on("write", (level: 0 | 1) => {
		const lit = (level === 1) !== (config.led_active_low === "true");
		view.led = lit ? "on" : "off";
		if (!live) console.log(`LED   board: pin ${board.led.pin} ${lit ? "ON  (lit)" : "OFF (dark)"}`);
	});

	const mosquittoPort = port === 1883 ? "" : ` -p ${port}`;
	const help = [
		`drive the LED:   npm run led -- on|off|toggle${port === 1883 ? "" : ` --broker ${brokerUrl}`}   (or mosquitto_pub${mosquittoPort} -t ${config.topic_led_command} -m on)`,
		`watch readings:  mosquitto_sub${mosquittoPort} -t '${config.topic_temperature}' -v`,
		"Ctrl-C publishes offline and exits",
	];
	if (note) console.log(note);
	if (local) console.log(formatLog({ at: 0, level: "info", tag: "config", message: localManifestNote(localFile, local) }));
	if (!live) console.log(`room1 firmware on the XS host simulator (XS ${workerXsVersion()}, ${workerBinary()}); broker ${view.broker}\n${help.join("\n")}\n`);

	const simulator = await XsSimulator.start({ board, config });
	if (!(await simulator.status())) {
		// The firmware refused to start (its own config check); it has said why.
		if (live) for (const line of view.logs) console.error(line);
		await simulator.close();
		await broker?.close();
		process.exit(usageExit);
	}
	const page = await webPage(board);
	if (page) {
		help.unshift(`web page:        ${page}`);
		if (!live) console.log(`web page: ${page}`);
	}

	let lastReadings = -1;
	const redraw = async (): Promise<void> => {
		const status = await simulator.status();
		if (!status) return;
		view.wifi = String(status.wifi);
		view.mqtt = String(status.mqtt);
		if (status.readings !== lastReadings && typeof status.temperature === "number") {
			lastReadings = status.readings as number;
			view.temperatures.push(status.temperature);
			if (view.temperatures.length > 200) view.temperatures.shift();
		}
		view.counters = [
			["readings", status.readings], ["commands", status.ledCommands], ["rejected", status.ledRejected],
			["connects", status.connects], ["reconnects", status.reconnects], ["sent", status.sent], ["received", status.received],
			["dropped", status.dropped], ["outbox", status.outbox], ["sensor faults", status.sensorFailures], ["rtt ms", status.lastRoundTrip],
		].map(([label, value]) => ({ label: label as string, value: value as number | null }));
		const width = process.stdout.columns || 80;
		const rows = process.stdout.rows || 24;
		process.stdout.write(`\x1b[H\x1b[2J${render(view, width, Math.max(3, rows - 12))}\n${help.map((line) => `\x1b[2m${line.slice(0, width)}\x1b[0m`).join("\n")}\n`);
	};
	const refresh = live ? setInterval(() => void redraw().catch(() => {}), 500) : undefined;

	let stopping = false;
	const stop = async (): Promise<void> => {
		if (stopping) process.exit(1);
		stopping = true;
		if (refresh) clearInterval(refresh);
		const connected = (await simulator.status())?.mqtt === "connected";
		console.log(connected ? "\nshutting down: publishing offline" : "\nshutting down");
		await simulator.shutdown();
		const deadline = Date.now() + 3000;
		while (!simulator.exited && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
		await simulator.close();
		await broker?.close();
		process.exit(0);
	};
	process.on("SIGINT", () => void stop());
	process.on("SIGTERM", () => void stop());
}

/** The page's address once the firmware listens; undefined with http_enabled=false. */
async function webPage(board: Board): Promise<string | undefined> {
	for (let waited = 0; waited < 2000; waited += 20) {
		const url = [...board.listeners].find((listener) => listener.url)?.url;
		if (url) return url;
		await new Promise((resolve) => setTimeout(resolve, 20));
	}
	return undefined;
}

main().catch((error: Error) => {
	if (error instanceof UsageError || error instanceof ConfigError) {
		for (const problem of error.problems) console.error(formatLog({ at: 0, level: "error", tag: error instanceof UsageError ? "start" : "config", message: problem }));
		console.error("npm start -- --help shows the arguments; docs/configuration.md lists every key");
		process.exit(usageExit);
	}
	console.error(formatLog({ at: 0, level: "error", tag: "start", message: error.message }));
	process.exit(1);
});
