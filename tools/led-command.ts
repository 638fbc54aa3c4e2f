/*
 * `npm run led -- COMMAND [--broker URL]`: sends one LED command to the
 * broker `npm start` runs, waits for the device's state topic to answer,
 * and prints the new state. It accepts exactly what the device accepts
 * (firmware/led's parser: on, OFF, toggle, 1, 0, true, {"state":"on"}, ...)
 * and sends it as typed. Exit 0 on an answer; 1 with a reason otherwise
 * (no broker, no answer within 3 s, a command the device would refuse).
 */
import fs from "node:fs";
import path from "node:path";
import mqtt from "mqtt";
import { parseLedCommand } from "firmware/led";
import { projectRoot } from "../hosts/xsnap/paths.js";

const answerTimeout = 3000;

export interface LedCommandOptions {
	command: string;
	broker: URL;
	commandTopic: string;
	stateTopic: string;
	/** ms to wait for the broker and for the answer; default 3,000. */
	timeout?: number;
}

/** Resolves with the state the device reports after the command. */
export async function sendLedCommand(options: LedCommandOptions): Promise<string> {
	const timeout = options.timeout ?? answerTimeout;
	const parsed = parseLedCommand(new TextEncoder().encode(options.command));
	if ("error" in parsed) throw new Error(`the device would refuse ${JSON.stringify(options.command)}: ${parsed.error}`);
	const hostname = options.broker.hostname.replace(/^\[|\]$/g, "");
	if (hostname !== "127.0.0.1" && hostname !== "::1" && hostname !== "localhost") throw new Error(`broker ${options.broker.href} is not on loopback; this tool talks to the local simulator only`);
	const client = await mqtt.connectAsync(options.broker.href, { reconnectPeriod: 0, connectTimeout: timeout, clientId: `room1-led-${process.pid}` })
		.catch((error: Error) => {
			throw new Error(`no broker at ${options.broker.href}: ${error.message} (is npm start running?)`);
		});
	try {
		const answer = new Promise<string>((resolve, reject) => {
			const timer = setTimeout(() => reject(new Error(`no answer on ${options.stateTopic} within ${timeout / 1000} s: is the firmware running and connected?`)), timeout);
			client.on("message", (topic, payload, packet) => {
				// The retained state is the old one; the device's answer is a live message.
				if (topic !== options.stateTopic || packet.retain) return;
				clearTimeout(timer);
				resolve(payload.toString());
			});
		});
		await client.subscribeAsync(options.stateTopic, { qos: 1 });
		await client.publishAsync(options.commandTopic, options.command, { qos: 1 });
		return await answer;
	} finally {
		await client.endAsync(true);
	}
}

async function main(): Promise<void> {
	const argv = process.argv.slice(2);
	let broker = new URL(process.env.MQTT_URL ?? "mqtt://127.0.0.1:1883");
	let command: string | undefined;
	for (let i = 0; i < argv.length; i++) {
		const argument = argv[i]!;
		if (argument === "--broker") broker = new URL(argv[++i] ?? "");
		else if (argument.startsWith("--broker=")) broker = new URL(argument.slice(9));
		else command = argument;
	}
	if (command === undefined || command === "--help" || command === "-h") {
		console.log('usage: npm run led -- COMMAND [--broker URL]\n  COMMAND: on, off, toggle, 1, 0, true, false or {"state":...}, any case, as the device accepts');
		process.exit(command === undefined ? 2 : 0);
	}
	const config = (JSON.parse(fs.readFileSync(path.join(projectRoot, "manifest.json"), "utf8")) as { config: Record<string, string> }).config;
	const state = await sendLedCommand({ command: command ?? "", broker, commandTopic: config.topic_led_command!, stateTopic: config.topic_led_state! });
	console.log(`LED is ${state}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(projectRoot, "build/js/tools/led-command.js")) {
	main().catch((error: Error) => {
		console.error(`npm run led: ${error.message}`);
		process.exit(1);
	});
}
