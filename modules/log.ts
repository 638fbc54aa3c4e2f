/*
 * One log line format for every host, device trace and Node console alike,
 * so a line reads and greps the same wherever it came from:
 *
 *   LEVEL tag: message key=value key="text value"
 *
 * Levels are padded to five characters so messages line up. Strings are
 * JSON-quoted so spaces and quotes in a value cannot be mistaken for fields.
 */
import type { LogLevel } from "platform";

export function formatLogLine(level: LogLevel, tag: string, message: string, fields?: Record<string, unknown>): string {
	let line = `${level.toUpperCase().padEnd(5)} ${tag}: ${message}`;
	if (fields) {
		for (const key in fields) {
			const value = fields[key];
			line += ` ${key}=${typeof value === "string" ? JSON.stringify(value) : String(value)}`;
		}
	}
	return line;
}
