/*
 * UTF-8 by hand: the firmware may not assume TextEncoder (Moddable has it
 * only as an optional module), and MQTT needs validation that TextDecoder
 * does not give: U+0000 and surrogates are malformed in MQTT strings
 * (MQTT 3.1.1, 1.5.3). ASCII, which every topic here is, takes a fast path.
 */

/** Bytes `text` takes in UTF-8; -1 if it holds a lone surrogate. */
export function utf8Length(text: string): number {
	let length = 0;
	for (let i = 0; i < text.length; i++) {
		const code = text.charCodeAt(i);
		if (code < 0x80) length += 1;
		else if (code < 0x800) length += 2;
		else if (code >= 0xd800 && code <= 0xdbff) {
			const next = text.charCodeAt(i + 1);
			if (!(next >= 0xdc00 && next <= 0xdfff)) return -1;
			length += 4;
			i++;
		} else if (code >= 0xdc00 && code <= 0xdfff) return -1;
		else length += 3;
	}
	return length;
}

/** Writes `text` at `offset`; returns the offset after it. The caller sized the buffer with utf8Length. */
export function writeUtf8(text: string, target: Uint8Array, offset: number): number {
	for (let i = 0; i < text.length; i++) {
		let code = text.charCodeAt(i);
		if (code < 0x80) {
			target[offset++] = code;
		} else if (code < 0x800) {
			target[offset++] = 0xc0 | (code >> 6);
			target[offset++] = 0x80 | (code & 0x3f);
		} else if (code >= 0xd800 && code <= 0xdbff) {
			code = 0x10000 + ((code - 0xd800) << 10) + (text.charCodeAt(++i) - 0xdc00);
			target[offset++] = 0xf0 | (code >> 18);
			target[offset++] = 0x80 | ((code >> 12) & 0x3f);
			target[offset++] = 0x80 | ((code >> 6) & 0x3f);
			target[offset++] = 0x80 | (code & 0x3f);
		} else {
			target[offset++] = 0xe0 | (code >> 12);
			target[offset++] = 0x80 | ((code >> 6) & 0x3f);
			target[offset++] = 0x80 | (code & 0x3f);
		}
	}
	return offset;
}

/** `text` as UTF-8 bytes. Throws a TypeError on a lone surrogate. */
export function encodeUtf8(text: string): Uint8Array {
	const length = utf8Length(text);
	if (length < 0) throw new TypeError("string is not valid Unicode (lone surrogate)");
	const bytes = new Uint8Array(length);
	writeUtf8(text, bytes, 0);
	return bytes;
}

/**
 * The rules of an MQTT UTF-8 string (1.5.3) for one of the application's:
 * a string, without U+0000 or a lone surrogate, at most 65,535 bytes.
 * Returns the broken rule, naming the field `what`, or undefined.
 */
export function mqttStringProblem(text: unknown, what: string): string | undefined {
	if (typeof text !== "string") return `${what} must be a string`;
	if (text.indexOf("\u0000") >= 0) return `${what} must not contain U+0000`;
	const length = utf8Length(text);
	if (length < 0) return `${what} is not valid UTF-8 (lone surrogate)`;
	if (length > 65535) return `${what} is ${length} bytes; at most 65535 are allowed`;
	return undefined;
}

/**
 * Decodes bytes[start, end) as an MQTT UTF-8 string. Returns undefined for
 * anything MQTT calls malformed: invalid or overlong sequences, surrogates,
 * code points above U+10FFFF, and U+0000.
 */
export function decodeUtf8(bytes: Uint8Array, start: number, end: number): string | undefined {
	let i = start;
	// ASCII fast path, in one call: String.fromCharCode over a view.
	while (i < end) {
		const byte = bytes[i]!;
		if (byte === 0 || byte >= 0x80) break;
		i++;
	}
	if (i === end) return asciiString(bytes, start, end);
	let text = i > start ? asciiString(bytes, start, i) : "";
	while (i < end) {
		const byte = bytes[i]!;
		let code: number;
		if (byte === 0) return undefined;
		if (byte < 0x80) {
			code = byte;
			i += 1;
		} else {
			// A lead byte and its `count` continuation bytes (C2-DF: 1, E0-EF: 2, F0-F4: 3).
			const count = byte >= 0xf0 ? 3 : byte >= 0xe0 ? 2 : 1;
			if (byte < 0xc2 || byte > 0xf4 || i + count >= end) return undefined;
			code = byte & (0x3f >> count);
			for (let k = 1; k <= count; k++) {
				const next = bytes[i + k]!;
				if ((next & 0xc0) !== 0x80) return undefined;
				code = (code << 6) | (next & 0x3f);
			}
			// Overlong (below 0x800 in three bytes, 0x10000 in four; C2 rules it out in two), surrogates, past U+10FFFF.
			if (code < 1 << (5 * count + 1) || (code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff) return undefined;
			i += 1 + count;
		}
		text += String.fromCodePoint(code);
	}
	return text;
}

// apply() puts every argument on the XS stack: 512 slots in the desktop
// simulator, so a 1,024-byte chunk aborted it ("JavaScript stack overflow",
// seen with a browser's 700-byte request head).
const asciiChunk = 128;

function asciiString(bytes: Uint8Array, start: number, end: number): string {
	if (end - start <= asciiChunk) return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
	let text = "";
	for (let i = start; i < end; i += asciiChunk) text += String.fromCharCode.apply(null, bytes.subarray(i, Math.min(end, i + asciiChunk)) as unknown as number[]);
	return text;
}
