/*
 * JSON from a client, parsed only once its nesting is known to be shallow.
 * XS parses nested arrays and objects recursively on its stack: the
 * manifest gives it 512 slots, and a few hundred nested `[` abort the
 * machine (a device reset) before JSON.parse can throw. The API's bodies are flat
 * objects, so 16 levels leave room for any client's habits (ArduinoJson,
 * which ESPHome uses, stops at 10) while costing the parser a few dozen
 * slots at most. The count is one pass, outside strings, allocating
 * nothing; over a request body it runs on the bytes, before any string is
 * made (a fixed arena has room for a body or its string, not for both and
 * a refusal's garbage besides). The characters it counts are ASCII, which
 * UTF-8 never uses inside a multi-byte sequence.
 */
import type { Utf8Decoder } from "platform";
import { decodeUtf8With } from "utf8";

export const maxJsonDepth = 16;

/** Whether `source` (text, or its UTF-8 bytes) nests arrays and objects deeper than `limit`; stops at the first level past it. */
export function nestsDeeperThan(source: string | Uint8Array, limit: number): boolean {
	const text = typeof source === "string" ? source : undefined;
	const bytes = source as Uint8Array;
	let depth = 0;
	let inString = false;
	for (let i = 0; i < source.length; i++) {
		const c = text !== undefined ? text.charCodeAt(i) : bytes[i]!;
		if (inString) {
			if (c === 0x5c) i++; // a backslash: the next character is escaped
			else if (c === 0x22) inString = false;
		} else if (c === 0x22) inString = true;
		else if (c === 0x5b || c === 0x7b) {
			if (++depth > limit) return true;
		} else if (c === 0x5d || c === 0x7d) depth--;
	}
	return false;
}

/** The text of a JSON body's bytes, or why it is refused (too deep, counted over the bytes before any string is made; not UTF-8). */
export function jsonText(bytes: Uint8Array, limit = maxJsonDepth, utf8?: Utf8Decoder): string | { error: string } {
	if (nestsDeeperThan(bytes, limit)) return { error: `the JSON nests deeper than ${limit} levels` };
	return decodeUtf8With(utf8, bytes, 0, bytes.length) ?? { error: "the body is not valid UTF-8" };
}

/**
 * The value of `source` (text, or UTF-8 bytes such as a request body), or
 * why it is not JSON this device takes. Bytes become their text through
 * `utf8`, the host's native decoder, where there is one.
 */
export function parseJson(source: string | Uint8Array, limit = maxJsonDepth, utf8?: Utf8Decoder): { value: unknown } | { error: string } {
	const text = typeof source === "string" ? (nestsDeeperThan(source, limit) ? { error: `the JSON nests deeper than ${limit} levels` } : source) : jsonText(source, limit, utf8);
	if (typeof text !== "string") return text;
	try {
		return { value: JSON.parse(text) as unknown };
	} catch (error) {
		return { error: `malformed JSON: ${(error as Error).message}` };
	}
}
