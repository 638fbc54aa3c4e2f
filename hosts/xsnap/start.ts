/*
 * `npm start`: the firmware on the XS host simulator.
 *
 *   npm start                                  embedded broker (aedes) on 127.0.0.1:1883
 *   npm start -- --broker mqtt://127.0.0.1:1884  an existing broker instead
 *   npm start -- sensor_interval=2000 ...      config overrides, as on the mcconfig command line
 *
 * Drive the LED from another terminal: mosquitto_pub -t control/room1/led -m on
 * Ctrl-C publishes `offline` and exits.
 */
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { Aedes } from "aedes";
import { Board, formatLog } from "../node/platform.js";
import { XsSimulator } from "./simulator.js";
import { projectRoot } from "./paths.js";

interface StartOptions {
	broker: URL | undefined;
	overrides: Record<string, string>;
}

function parseArguments(argv: string[]): StartOptions {
	let broker: URL | undefined = process.env.MQTT_URL ? new URL(process.env.MQTT_URL) : undefined;
	const overrides: Record<string, string> = {};
	for (let i = 0; i < argv.length; i++) {
		const argument = argv[i]!;
		if (argument === "--broker") broker = new URL(argv[++i] ?? "");
		else if (argument.startsWith("--broker=")) broker = new URL(argument.slice(9));
		else if (/^[a-z_][a-z0-9_]*=/.test(argument)) {
			const equals = argument.indexOf("=");
			overrides[argument.slice(0, equals)] = argument.slice(equals + 1);
		} else throw new Error(`unknown argument "${argument}": expected --broker URL or key=value`);
	}
	return { broker, overrides };
}

async function listen(server: net.Server, port: number): Promise<number> {
	return new Promise((resolve, reject) => {
		server.once("error", reject);
		server.listen(port, "127.0.0.1", () => {
			server.off("error", reject);
			resolve((server.address() as net.AddressInfo).port);
		});
	});
}

/** The embedded broker: 1883 if free, so mosquitto_pub works as is; else any free port. */
async function startEmbeddedBroker(): Promise<{ port: number; close(): Promise<void> }> {
	const aedes = await Aedes.createBroker();
	const server = net.createServer(aedes.handle);
	let port: number;
	try {
		port = await listen(server, 1883);
	} catch {
		port = await listen(server, 0);
	}
	return {
		port,
		close: () => new Promise<void>((resolve) => {
			server.close();
			aedes.close(() => resolve());
		}),
	};
}

async function main(): Promise<void> {
	const options = parseArguments(process.argv.slice(2));
	const manifest = JSON.parse(fs.readFileSync(path.join(projectRoot, "manifest.json"), "utf8")) as { config: Record<string, string> };

	let broker: { port: number; close(): Promise<void> } | undefined;
	let host = "127.0.0.1";
	let port: number;
	if (options.broker) {
		host = options.broker.hostname.replace(/^\[|\]$/g, "");
		port = Number(options.broker.port || 1883);
	} else {
		broker = await startEmbeddedBroker();
		port = broker.port;
	}

	const config: Record<string, string> = {
		...manifest.config,
		// The simulated board's own parts.
		ssid: "simulator",
		sensor: "simulated",
		mqtt_host: host,
		mqtt_port: String(port),
		...options.overrides,
	};

	const board = new Board({ print: (line) => console.log(line) });
	board.led.on("write", (level: 0 | 1) => {
		const lit = (level === 1) !== (config.led_active_low === "true");
		console.log(`LED   board: pin ${board.led.pin} ${lit ? "ON  (lit)" : "OFF (dark)"}`);
	});

	console.log(`room1 firmware on the XS host simulator; broker mqtt://${host.includes(":") ? `[${host}]` : host}:${port}${broker ? " (embedded)" : ""}`);
	const mosquittoPort = port === 1883 ? "" : ` -p ${port}`;
	console.log(`drive the LED:   mosquitto_pub${mosquittoPort} -t ${config.topic_led_command} -m on`);
	console.log(`watch readings:  mosquitto_sub${mosquittoPort} -t '${config.topic_temperature}' -v`);
	console.log("Ctrl-C publishes offline and exits\n");

	const simulator = await XsSimulator.start({ board, config });

	let stopping = false;
	const stop = async (): Promise<void> => {
		if (stopping) process.exit(1);
		stopping = true;
		console.log("\nshutting down: publishing offline");
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

main().catch((error: Error) => {
	console.error(formatLog({ at: 0, level: "error", tag: "start", message: error.message }));
	process.exit(1);
});
