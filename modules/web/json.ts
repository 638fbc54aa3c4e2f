/*
 * JSON from a client, parsed only once its nesting is known to be shallow.
 * XS parses nested arrays and objects recursively on its stack: an ESP32
 * build has 768 slots, and about 650 nested `[` abort the machine (a device
 * reset) before JSON.parse can throw. The API's bodies are flat objects, so
 * 16 levels leave room for any client's habits (ArduinoJson, which ESPHome
 * uses, stops at 10) while costing the parser a few dozen slots at most.
 * The count is one pass over the text, outside strings, allocating nothing.
 */
export const maxJsonDepth = 16;

/** Whether `text` nests arrays and objects deeper than `limit`; stops at the first level past it. */
export function nestsDeeperThan(text: string, limit: number): boolean {
	let depth = 0;
	let inString = false;
	for (let i = 0; i < text.length; i++) {
		const c = text.charCodeAt(i);
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

/** The value, or why the text is not JSON this device takes. */
export function parseJson(text: string, limit = maxJsonDepth): { value: unknown } | { error: string } {
	if (nestsDeeperThan(text, limit)) return { error: `the JSON nests deeper than ${limit} levels` };
	try {
		return { value: JSON.parse(text) as unknown };
	} catch (error) {
		return { error: `malformed JSON: ${(error as Error).message}` };
	}
}
