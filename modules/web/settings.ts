/*
 * Settings changed at run time, over the build's configuration.
 *
 * Precedence: stored (flash) > the build's mc/config (manifest and mcconfig
 * command line) > the table's defaults. Every change is validated by
 * parseConfig itself, on the configuration it would produce, so the web form
 * obeys exactly the rules (and cross-checks) of a build, and each problem is
 * reported under the key it names. Secrets never leave the device: they are
 * described as "set" or "not set".
 */
import { ConfigError, configKeys, parseConfig, type ConfigKey, type FirmwareConfig } from "config";
import type { SettingsStorage } from "platform";
import { utf8Length } from "utf8";
import type { TextParts } from "web/http";
import { parseJson } from "web/json";

/** The keys the page may change: Wi-Fi, broker, topics, intervals, identity and the page's password. */
export const editableKeys: readonly string[] = [
	"ssid", "password", "wifi_setup_after",
	"mqtt_host", "mqtt_port", "mqtt_tls", "mqtt_tls_server_name", "mqtt_username", "mqtt_password", "mqtt_client_id", "mqtt_keepalive",
	"topic_temperature", "topic_status", "topic_events", "topic_led_command", "topic_led_state",
	"sensor_interval", "sensor_precision", "sensor_deadband", "sensor_heartbeat",
	"device_name", "http_password",
];

/** ESP32 NVS keeps at most 4,000 bytes in one string. */
export const maxStoredBytes = 3900;

export type Source = "stored" | "build" | "default";

/** `restarting`: the parts of the firmware the change restarts, when the device says. */
export type UpdateResult = { ok: true; restarting?: readonly string[] } | { ok: false; errors: Record<string, string> };

/**
 * Keys a client names are untrusted: every table and result keyed by them
 * has no prototype, so `constructor` or `__proto__` is only a name (a
 * release build strips the `__proto__` accessor: writing it aborts XS).
 */
function table<T>(): Record<string, T> {
	return Object.create(null) as Record<string, T>;
}

const specs = table<ConfigKey>();
for (const spec of configKeys) specs[spec.key] = spec;

/**
 * A copy made at run time: the table is preloaded, and XS's JSON.stringify
 * refuses an object that lives in flash ("read only value": it flags each
 * object it visits, to catch cycles).
 */
function copyOfKind(kind: ConfigKey["kind"]): ConfigKey["kind"] {
	return kind.type === "choice" ? { ...kind, values: [...kind.values] } : { ...kind };
}

function isSecret(spec: ConfigKey): boolean {
	return spec.kind.type === "string" && spec.kind.secret === true;
}

/**
 * A JSON value as the text the configuration holds, or undefined when its
 * type does not fit the key's: text keys take strings only (`false` is not
 * the text "false"), numeric keys numbers or text, booleans true/false or text.
 */
function asText(value: unknown, spec: ConfigKey): string | undefined {
	if (typeof value === "string") return value;
	const type = spec.kind.type;
	if (typeof value === "number" && (type === "integer" || type === "number") && Number.isFinite(value)) return String(value);
	if (typeof value === "boolean" && type === "boolean") return String(value);
	return undefined;
}

function typeProblem(key: string, spec: ConfigKey): string {
	const type = spec.kind.type;
	const takes = type === "integer" || type === "number" ? "a number" : type === "boolean" ? "true or false" : "text (a JSON string)";
	return `${key} must be ${takes}`;
}

/** The key a ConfigError problem is about: every problem starts with its key. */
function problemKey(problem: string): string {
	const match = /^([a-z0-9_]+)/.exec(problem);
	return match && match[1]! in specs ? match[1]! : "_";
}

/** Each editable setting's meaning and kind as the end of its JSON entry, written while the module loads: in flash once preloaded. */
const entryTails = table<string>();
for (const key of editableKeys) entryTails[key] = JSON.stringify({ meaning: specs[key]!.meaning, kind: copyOfKind(specs[key]!.kind) }).slice(1);

/** A build's value as text: mc/config's values are strings, numbers or booleans; anything else is no value. */
function builtText(given: unknown): string | undefined {
	return typeof given === "string" || typeof given === "number" || typeof given === "boolean" ? String(given) : undefined;
}

function sourceOf(key: string, stored: Record<string, string>, build: Readonly<Record<string, unknown>>): Source {
	return stored[key] !== undefined ? "stored" : builtText(build[key]) !== undefined ? "build" : "default";
}

/** The value in effect as the page shows it: a secret only as "set" or "not set". */
function shownValue(key: string, stored: Record<string, string>, build: Readonly<Record<string, unknown>>): string {
	const spec = specs[key]!;
	const value = stored[key] ?? builtText(build[key]) ?? spec.default;
	return isSecret(spec) ? (value === "" ? "not set" : "set") : value;
}

/**
 * {"persistent", "problem", "values": [one view per editable key]}, as
 * parts: the head, a setting each, the tail. Each client served would
 * otherwise hold a 4 KB string and 22 views, more than a fixed arena has
 * free for them; a part is made as the socket takes it, and dropped. It keeps the stored table it was made from (a change replaces
 * that table), so a save while it is sent changes nothing in it.
 */
export class SettingsDocument implements TextParts {
	readonly #stored: Record<string, string>;
	readonly #build: Readonly<Record<string, unknown>>;
	readonly #persistent: boolean;
	readonly #problem: string | undefined;

	constructor(stored: Record<string, string>, build: Readonly<Record<string, unknown>>, persistent: boolean, problem: string | undefined) {
		this.#stored = stored;
		this.#build = build;
		this.#persistent = persistent;
		this.#problem = problem;
	}

	get count(): number {
		return editableKeys.length + 2;
	}

	part(index: number): string {
		if (index === 0) return `{"persistent":${this.#persistent},${this.#problem === undefined ? "" : `"problem":${JSON.stringify(this.#problem)},`}"values":[`;
		if (index > editableKeys.length) return "]}";
		const key = editableKeys[index - 1]!;
		const stored = this.#stored;
		const build = this.#build;
		return `${index === 1 ? "" : ","}{"key":"${key}","value":${JSON.stringify(shownValue(key, stored, build))},"source":"${sourceOf(key, stored, build)}",${entryTails[key]}`;
	}
}

export class Settings {
	readonly #build: Readonly<Record<string, unknown>>;
	readonly #storage: SettingsStorage | undefined;
	/** Replaced on each change, never changed in place: a document being sent keeps the values it was made with. */
	#stored: Record<string, string> = table<string>();
	/** The configuration the stored settings make, parsed once per change: a parse is the costliest step of a save. */
	#config: FirmwareConfig | undefined;
	/** Why the stored settings were set aside at start, if they were. */
	problem: string | undefined;

	constructor(build: Readonly<Record<string, unknown>>, storage: SettingsStorage | undefined) {
		this.#build = build;
		this.#storage = storage;
		const text = storage?.load();
		if (text) {
			try {
				const parsed = parseJson(text);
				if ("error" in parsed) throw new Error(parsed.error);
				const value = parsed.value;
				if (!value || typeof value !== "object" || Array.isArray(value)) throw new Error("not an object");
				for (const key of Object.keys(value)) {
					const given = editableKeys.includes(key) ? asText((value as Record<string, unknown>)[key], specs[key]!) : undefined;
					if (given !== undefined) this.#stored[key] = given;
				}
				this.#setAsideInvalid();
			} catch (error) {
				// Settings from an older firmware, or a corrupted flash: run on the build's, and say so.
				this.problem = `stored settings ignored: ${(error as Error).message}`;
				this.#stored = table<string>();
			}
		}
	}

	/**
	 * Stored values the rules refuse (a password longer than this firmware
	 * takes, say) are set aside one by one, so the rest (the Wi-Fi network)
	 * still applies and the device stays reachable; said in `problem`.
	 */
	#setAsideInvalid(): void {
		// The configuration parsed here is the one in effect: config() keeps it rather than parse again.
		try {
			this.#config = parseConfig(this.#merged(this.#stored));
		} catch (error) {
			if (!(error instanceof ConfigError)) throw error;
			const keys = error.problems.map(problemKey);
			if (keys.some((key) => !(key in this.#stored))) throw error;
			for (const key of keys) delete this.#stored[key];
			this.#config = parseConfig(this.#merged(this.#stored));
			this.problem = `stored settings ignored for ${keys.join(", ")}: ${error.problems.join("; ")}`;
		}
	}

	/** Whether there is flash to store into. */
	get persistent(): boolean {
		return this.#storage !== undefined;
	}

	/** The configuration in effect. Throws ConfigError if the build itself is invalid. */
	config(): FirmwareConfig {
		return (this.#config ??= parseConfig(this.#merged(this.#stored)));
	}

	/** Every editable setting as JSON for the page (GET /api/settings), made a setting at a time as it is sent. */
	document(): SettingsDocument {
		return new SettingsDocument(this.#stored, this.#build, this.persistent, this.problem);
	}

	/**
	 * Validates and stores `changes` ({key: value}; null forgets a stored
	 * value, so the build's applies again). Nothing is stored unless every
	 * change is valid.
	 */
	update(changes: unknown): UpdateResult {
		if (!changes || typeof changes !== "object" || Array.isArray(changes)) return { ok: false, errors: { _: "expected a JSON object of settings" } };
		const errors = table<string>();
		const candidate = Object.assign(table<string>(), this.#stored);
		for (const key of Object.keys(changes)) {
			const value = (changes as Record<string, unknown>)[key];
			const spec = key in specs ? specs[key] : undefined;
			if (!spec) errors[key] = `${key.slice(0, 64)} is not a setting`;
			else if (!editableKeys.includes(key)) errors[key] = `${key} cannot be changed from the web page`;
			else if (value === null) delete candidate[key];
			else {
				const text = asText(value, spec);
				if (text === undefined) errors[key] = typeProblem(key, spec);
				else candidate[key] = text;
			}
		}
		let config: FirmwareConfig | undefined;
		if (!Object.keys(errors).length) {
			try {
				config = parseConfig(this.#merged(candidate));
			} catch (error) {
				if (!(error instanceof ConfigError)) throw error;
				for (const problem of error.problems) {
					const key = problemKey(problem);
					errors[key] = errors[key] ? `${errors[key]}; ${problem}` : problem;
				}
			}
		}
		if (Object.keys(errors).length) return { ok: false, errors };
		// Made only for settings that will be stored: a refused value (a long password) is not copied again.
		const text = JSON.stringify(candidate);
		const bytes = utf8Length(text);
		if (bytes > maxStoredBytes) return { ok: false, errors: { _: `the settings take ${bytes} bytes; at most ${maxStoredBytes} fit in flash` } };
		if (!this.#storage) return { ok: false, errors: { _: "this host has no flash to store settings in" } };
		this.#storage.save(text);
		this.#stored = candidate;
		this.#config = config;
		this.problem = undefined;
		return { ok: true };
	}

	/** Factory reset: forgets every stored value; the build's configuration applies again. */
	reset(): void {
		this.#storage?.clear();
		this.#stored = table<string>();
		this.#config = undefined;
		this.problem = undefined;
	}

	#merged(stored: Record<string, string>): Record<string, unknown> {
		return { ...this.#build, ...stored };
	}
}
