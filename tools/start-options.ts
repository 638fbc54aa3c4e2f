/*
 * What `npm start` is asked to do, worked out before anything starts, so a
 * mistake is explained at once, on a terminal or not, and ends with exit
 * code 2 (usage), never a hang.
 *
 * The configuration is laid together as mcconfig would, most specific last:
 *   manifest.json's config < manifest_local.json's config (git-ignored: the
 *   Wi-Fi and broker secrets) < ROOM1_<KEY> environment variables < the
 *   simulated board's own parts < key=value arguments,
 * then checked strictly: on the simulator every key must be one of ours.
 */
import fs from "node:fs";
import path from "node:path";
import { ConfigError, nearestKey, parseConfig } from "config";

export const defaultBrokerPort = 1883;
/** Environment variables that carry config keys: ROOM1_MQTT_PASSWORD=... is mqtt_password. */
export const environmentPrefix = "ROOM1_";

export const usage = `usage: npm start -- [--broker URL] [--flash FILE] [key=value ...]

Runs the firmware on the XS host simulator, with a broker embedded on 127.0.0.1:${defaultBrokerPort}
(or the broker already listening there, if one is).

  --broker URL      use this broker instead, e.g. --broker mqtt://127.0.0.1:1884 (also MQTT_URL=...)
  --flash FILE      where settings saved from the web page are kept (default .sim-flash.json)
  key=value         a configuration key, exactly as on the mcconfig command line,
                    e.g. sensor_interval=2000 sensor=simulated-faulty
  -h, --help, help  this text

Every key, its default and what it accepts: the "Configuration" table in
docs/configuration.md (or modules/config.ts). Keep secrets off the command
line, where npm echoes them and ps shows them: put them in manifest_local.json
(git-ignored; see manifest_local.example.json) or in the environment as
ROOM1_<KEY>, for example ROOM1_MQTT_PASSWORD=... npm start.`;

export class UsageError extends Error {
	override name = "UsageError";
	readonly problems: readonly string[];
	constructor(problems: string[]) {
		super(problems.join("; "));
		this.problems = problems;
	}
}

export interface StartArguments {
	help: boolean;
	broker: URL | undefined;
	overrides: Record<string, string>;
	/** The simulated board's flash file, for settings from the web page; undefined: the default. */
	flash: string | undefined;
}

function brokerUrl(text: string, from: string): URL {
	let url: URL;
	try {
		url = new URL(text);
	} catch {
		throw new UsageError([`${from} ${JSON.stringify(text)} is not a URL: expected mqtt://HOST:PORT, e.g. mqtt://127.0.0.1:1884`]);
	}
	if (url.protocol !== "mqtt:") throw new UsageError([`${from} ${JSON.stringify(text)}: only mqtt:// brokers are supported here (TLS: set mqtt_tls=true and mqtt_port)`]);
	return url;
}

/** Our options npm takes for its own when `--` is left out: it sets npm_config_<name> and passes only the value on. */
const npmTakes = ["broker", "flash"];

/** Says how to write it when `npm start --broker URL` lost the option to npm; undefined when nothing was lost. */
export function missingSeparatorHint(env: Readonly<Record<string, string | undefined>>): string | undefined {
	const taken = npmTakes.filter((name) => env[`npm_config_${name}`] !== undefined);
	if (!taken.length) return undefined;
	return `npm took ${taken.map((name) => `--${name}`).join(" and ")} for itself: arguments for npm start go after --, e.g. npm start -- --broker mqtt://127.0.0.1:1884`;
}

/** Parses `npm start`'s arguments; throws a UsageError naming each bad one. */
export function parseStartArguments(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): StartArguments {
	let broker = env.MQTT_URL ? brokerUrl(env.MQTT_URL, "MQTT_URL") : undefined;
	const overrides: Record<string, string> = {};
	const separatorHint = missingSeparatorHint(env);
	const problems: string[] = separatorHint ? [separatorHint] : [];
	let help = false;
	let flash: string | undefined;
	for (let i = 0; i < argv.length; i++) {
		const argument = argv[i]!;
		try {
			if (argument === "--help" || argument === "-h" || argument === "help") help = true;
			else if (argument === "--flash") {
				if (i + 1 >= argv.length) throw new UsageError(["--flash needs a file name, e.g. --flash /tmp/room1-flash.json"]);
				flash = argv[++i]!;
			} else if (argument === "--broker") {
				if (i + 1 >= argv.length) throw new UsageError(["--broker needs a URL, e.g. --broker mqtt://127.0.0.1:1884"]);
				broker = brokerUrl(argv[++i]!, "--broker");
			} else if (argument.startsWith("--broker=")) broker = brokerUrl(argument.slice(9), "--broker");
			else if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(argument)) {
				const equals = argument.indexOf("=");
				overrides[argument.slice(0, equals)] = argument.slice(equals + 1);
			} else {
				const near = argument.startsWith("-") ? undefined : nearestKey(argument);
				// A URL alone is what npm leaves of `npm start --broker URL`; the hint above says so once.
				if (separatorHint && /^[a-z]+:\/\//i.test(argument)) continue;
				throw new UsageError([`unknown argument ${JSON.stringify(argument)}: expected --broker URL, --flash FILE, key=value or --help${near ? ` (did you mean ${near}=...?)` : ""}`]);
			}
		} catch (error) {
			if (!(error instanceof UsageError)) throw error;
			problems.push(...error.problems);
		}
	}
	if (problems.length) throw new UsageError(problems);
	return { help, broker, overrides, flash };
}

/** JSON.parse's complaint with the line and column it is at (Node 20 gives only a position). */
export function jsonProblem(text: string, error: Error): string {
	const message = error.message.replace(/\s*\(line \d+ column \d+\)/, "");
	const at = /at position (\d+)/.exec(message);
	const position = at ? Number(at[1]) : text.length;
	const before = text.slice(0, position).split("\n");
	return `line ${before.length}, column ${before[before.length - 1]!.length + 1}: ${message.replace(/ in JSON at position \d+/, "").replace(/^Unexpected end of JSON input$/, "the text ends too soon (a missing } or ])")}`;
}

interface Manifest {
	include?: unknown;
	config?: Record<string, unknown>;
}

function readManifest(file: string): Manifest {
	const text = fs.readFileSync(file, "utf8");
	try {
		return JSON.parse(text) as Manifest;
	} catch (error) {
		throw new UsageError([`${path.basename(file)} is not valid JSON: ${jsonProblem(text, error as Error)}`]);
	}
}

function configOf(manifest: Manifest): Record<string, string> {
	const config: Record<string, string> = {};
	for (const [key, value] of Object.entries(manifest.config ?? {})) config[key] = String(value);
	return config;
}

/** `config` of a manifest file, or {} when the file does not exist. */
export function manifestConfigOf(file: string): Record<string, string> {
	return fs.existsSync(file) ? configOf(readManifest(file)) : {};
}

/**
 * manifest_local.json's `config`, by mcconfig's rules: mcconfig builds from
 * this file alone, so it must include ./manifest.json (or the build loses
 * every module and default). Undefined when there is no such file.
 */
export function localManifestConfig(file: string): Record<string, string> | undefined {
	if (!fs.existsSync(file)) return undefined;
	const manifest = readManifest(file);
	const includes = ([] as unknown[]).concat(manifest.include ?? []);
	const project = path.join(path.dirname(file), "manifest.json");
	if (!includes.some((entry) => typeof entry === "string" && path.resolve(path.dirname(file), entry) === project)) {
		throw new UsageError([`${path.basename(file)} must include ./manifest.json ("include": ["./manifest.json"], as manifest_local.example.json does): mcconfig builds from it alone and would lose the firmware's modules and defaults`]);
	}
	return configOf(manifest);
}

/** The log line that says a local manifest was read: its keys, never their values (secrets). */
export function localManifestNote(file: string, config: Readonly<Record<string, string>>): string {
	const keys = Object.keys(config);
	return `${path.basename(file)} read: ${keys.length ? keys.join(", ") : "no config keys"}`;
}

/** ROOM1_<KEY> variables as config keys (ROOM1_MQTT_PASSWORD -> mqtt_password). */
export function environmentConfig(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
	const config: Record<string, string> = {};
	for (const [name, value] of Object.entries(env)) {
		if (name.startsWith(environmentPrefix) && value !== undefined) config[name.slice(environmentPrefix.length).toLowerCase()] = value;
	}
	return config;
}

const simulatedSensors = ["simulated", "simulated-faulty"];

export interface ConfigLayers {
	manifest: Record<string, string>;
	local: Record<string, string>;
	environment: Record<string, string>;
	/** What the simulated board decides: its network name, its sensor, where its broker is. */
	board: Record<string, string>;
	overrides: Record<string, string>;
}

/**
 * The simulator's mc/config, laid together and checked strictly (every key
 * ours, every value valid). Throws a ConfigError listing every problem, each
 * saying where the bad key came from when it was not the command line.
 */
export function simulatorConfig(layers: ConfigLayers): Record<string, string> {
	const config = { ...layers.manifest, ...layers.local, ...layers.environment, ...layers.board, ...layers.overrides };
	try {
		parseConfig(config, { strict: true });
		if (!simulatedSensors.includes(config.sensor ?? "")) {
			throw new ConfigError([`sensor=${config.sensor} needs a device; the simulator offers sensor=simulated, or sensor=simulated-faulty (every 3rd sample fails)`]);
		}
	} catch (error) {
		if (!(error instanceof ConfigError)) throw error;
		const origin = (problem: string): string => {
			const key = /^(?:unknown key )?([A-Za-z0-9_]+)/.exec(problem)?.[1] ?? "";
			if (key in layers.overrides) return problem;
			if (key in layers.environment) return `${problem} (from ${environmentPrefix}${key.toUpperCase()})`;
			if (key in layers.local) return `${problem} (from manifest_local.json)`;
			return problem;
		};
		throw new ConfigError(error.problems.map(origin));
	}
	return config;
}
