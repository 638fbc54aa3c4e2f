/*
 * Stored settings in the desktop simulators: the file and layout of
 * Moddable's lin `preference` (`<file root>modpreferences.json`, holding
 * {domain: {key: value}}), read and written whole on each call.
 *
 * Moddable's lin `preference` cannot be preloaded: it reads the file into a
 * static cache as its module loads. Preloaded, that cache is made at build
 * time and lives in the image, XS's JSON.stringify refuses it ("read only
 * value"), and set() then deletes the file and stores nothing. This module
 * keeps nothing between calls.
 */
import { File } from "file";
import config from "mc/config";
import type { SettingsStorage } from "platform";

const key = "settings";

function filePath(): string {
	const root = (config as { file?: { root?: string } }).file?.root ?? "/tmp/";
	return `${root}modpreferences.json`;
}

function readAll(): Record<string, Record<string, unknown>> {
	try {
		if (!File.exists(filePath())) return {};
		const file = new File(filePath(), false);
		const text = file.read(String);
		file.close();
		const parsed = JSON.parse(text) as unknown;
		return parsed && typeof parsed === "object" ? parsed as Record<string, Record<string, unknown>> : {};
	} catch {
		// A missing or damaged file holds no settings.
		return {};
	}
}

function writeAll(all: Record<string, Record<string, unknown>>): void {
	File.delete(filePath());
	const file = new File(filePath(), true);
	file.write(JSON.stringify(all));
	file.close();
}

export function preferenceStorage(domain: string): SettingsStorage {
	return {
		load(): string | undefined {
			const value = readAll()[domain]?.[key];
			return typeof value === "string" ? value : undefined;
		},
		save(text: string): void {
			const all = readAll();
			all[domain] = { ...all[domain], [key]: text };
			writeAll(all);
		},
		clear(): void {
			const all = readAll();
			if (all[domain]?.[key] === undefined) return;
			delete all[domain]![key];
			if (!Object.keys(all[domain]!).length) delete all[domain];
			writeAll(all);
		},
	};
}
