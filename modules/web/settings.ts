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
import { utf8Length } from "mqtt/utf8";

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

export interface SettingView {
	key: string;
	/** The value in effect; for a secret, "set" or "not set". */
	value: string;
	source: Source;
	meaning: string;
	kind: ConfigKey["kind"];
}

export type UpdateResult = { ok: true } | { ok: false; errors: Record<string, string> };

const specs: Record<string, ConfigKey> = {};
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

function asText(value: unknown): string | undefined {
	if (typeof value === "string") return value;
	if (typeof value === "number" || typeof value === "boolean") return String(value);
	return undefined;
}

/** The key a ConfigError problem is about: every problem starts with its key. */
function problemKey(problem: string): string {
	const match = /^([a-z0-9_]+)/.exec(problem);
	return match && specs[match[1]!] ? match[1]! : "_";
}

export class Settings {
	readonly #build: Readonly<Record<string, unknown>>;
	readonly #storage: SettingsStorage | undefined;
	#stored: Record<string, string> = {};
	/** Why the stored settings were set aside at start, if they were. */
	problem: string | undefined;

	constructor(build: Readonly<Record<string, unknown>>, storage: SettingsStorage | undefined) {
		this.#build = build;
		this.#storage = storage;
		const text = storage?.load();
		if (text) {
			try {
				const parsed = JSON.parse(text) as unknown;
				if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object");
				for (const key of Object.keys(parsed)) {
					const value = asText((parsed as Record<string, unknown>)[key]);
					if (editableKeys.includes(key) && value !== undefined) this.#stored[key] = value;
				}
				parseConfig(this.#merged(this.#stored));
			} catch (error) {
				// Settings from an older firmware, or a corrupted flash: run on the build's, and say so.
				this.problem = `stored settings ignored: ${(error as Error).message}`;
				this.#stored = {};
			}
		}
	}

	/** Whether there is flash to store into. */
	get persistent(): boolean {
		return this.#storage !== undefined;
	}

	/** The configuration in effect. Throws ConfigError if the build itself is invalid. */
	config(): FirmwareConfig {
		return parseConfig(this.#merged(this.#stored));
	}

	describe(): SettingView[] {
		const views: SettingView[] = [];
		for (const key of editableKeys) {
			const spec = specs[key]!;
			const stored = this.#stored[key];
			const built = asText(this.#build[key]);
			const value = stored ?? built ?? spec.default;
			views.push({
				key,
				value: isSecret(spec) ? (value === "" ? "not set" : "set") : value,
				source: stored !== undefined ? "stored" : built !== undefined ? "build" : "default",
				meaning: spec.meaning,
				kind: copyOfKind(spec.kind),
			});
		}
		return views;
	}

	/**
	 * Validates and stores `changes` ({key: value}; null forgets a stored
	 * value, so the build's applies again). Nothing is stored unless every
	 * change is valid.
	 */
	update(changes: unknown): UpdateResult {
		if (!changes || typeof changes !== "object" || Array.isArray(changes)) return { ok: false, errors: { _: "expected a JSON object of settings" } };
		const errors: Record<string, string> = {};
		const candidate: Record<string, string> = { ...this.#stored };
		for (const key of Object.keys(changes)) {
			const value = (changes as Record<string, unknown>)[key];
			if (!editableKeys.includes(key)) errors[key] = specs[key] ? `${key} cannot be changed from the web page` : `${key} is not a setting`;
			else if (value === null) delete candidate[key];
			else {
				const text = asText(value);
				if (text === undefined) errors[key] = `${key} must be text, a number or a boolean`;
				else candidate[key] = text;
			}
		}
		if (!Object.keys(errors).length) {
			try {
				parseConfig(this.#merged(candidate));
			} catch (error) {
				if (!(error instanceof ConfigError)) throw error;
				for (const problem of error.problems) {
					const key = problemKey(problem);
					errors[key] = errors[key] ? `${errors[key]}; ${problem}` : problem;
				}
			}
		}
		const text = JSON.stringify(candidate);
		const bytes = utf8Length(text);
		if (!Object.keys(errors).length && bytes > maxStoredBytes) errors._ = `the settings take ${bytes} bytes; at most ${maxStoredBytes} fit in flash`;
		if (Object.keys(errors).length) return { ok: false, errors };
		if (!this.#storage) return { ok: false, errors: { _: "this host has no flash to store settings in" } };
		this.#storage.save(text);
		this.#stored = candidate;
		this.problem = undefined;
		return { ok: true };
	}

	/** Factory reset: forgets every stored value; the build's configuration applies again. */
	reset(): void {
		this.#storage?.clear();
		this.#stored = {};
		this.problem = undefined;
	}

	#merged(stored: Record<string, string>): Record<string, unknown> {
		return { ...this.#build, ...stored };
	}
}
