/*
 * Stored settings on both Moddable SDK hosts, through `preference`: NVS on
 * the ESP32 (domain and key at most 15 characters, a string at most 4,000
 * bytes), a JSON file on lin (/tmp/modpreferences.json, shared by every
 * simulator on the computer, hence a domain per build there).
 */
import Preference from "preference";
import type { SettingsStorage } from "platform";

const key = "settings";

export function preferenceStorage(domain: string): SettingsStorage {
	return {
		load(): string | undefined {
			const value = Preference.get(domain, key);
			return typeof value === "string" ? value : undefined;
		},
		save(text: string): void {
			Preference.set(domain, key, text);
		},
		clear(): void {
			Preference.delete(domain, key);
		},
	};
}
