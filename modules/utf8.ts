/*
 * UTF-8 by hand: the firmware may not assume TextEncoder (Moddable has it
 * only as an optional module), and MQTT needs validation that TextDecoder
 * does not give: U+0000 and surrogates are malformed in MQTT strings
 * (MQTT 3.1.1, 1.5.3). ASCII, which every topic here is, takes a fast path.
 */
import type { Utf8Decoder } from "platform";

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

/** Where a part-at-a-time encoding stopped: the next character, and how many of its bytes were already written. */
export interface Utf8Cursor {
	index: number;
	taken: number;
}

/**
 * Writes `text` as UTF-8 into `target` from `offset` until the text ends or
 * the target is full; returns the offset after the last byte written. The
 * caller checked the text with utf8Length (no lone surrogate). With a
 * cursor it starts where the cursor says and records where it stopped, a
 * character split across two parts included, so a long string (a JSON
 * answer) is encoded a slice at a time as the socket takes it.
 */
export function writeUtf8(text: string, target: Uint8Array, offset: number, cursor?: Utf8Cursor): number {
	const end = target.length;
	let i = cursor ? cursor.index : 0;
	let skip = cursor ? cursor.taken : 0;
	for (; i < text.length && offset < end; i++) {
		let code = text.charCodeAt(i);
		if (code < 0x80) {
			target[offset++] = code;
			continue;
		}
		if (code >= 0xd800 && code <= 0xdbff) code = 0x10000 + ((code - 0xd800) << 10) + (text.charCodeAt(i + 1) - 0xdc00);
		const size = code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
		let k = skip;
		skip = 0;
		for (; k < size && offset < end; k++) target[offset++] = k === 0 ? ((0xf0 << (4 - size)) & 0xff) | (code >> (6 * (size - 1))) : 0x80 | ((code >> (6 * (size - 1 - k))) & 0x3f);
		if (k < size) {
			// The target is full inside this character: the next part resumes at its byte k.
			skip = k;
			break;
		}
		if (size === 4) i++;
	}
	if (cursor) {
		cursor.index = i;
		cursor.taken = skip;
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
		const code = codePointAt(bytes, i, end);
		if (code < 0) return undefined;
		i += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
		text += String.fromCodePoint(code);
	}
	return text;
}

/** Whether bytes[start, end) is what decodeUtf8 takes; allocates nothing. */
export function isUtf8(bytes: Uint8Array, start: number, end: number): boolean {
	for (let i = start; i < end;) {
		const code = codePointAt(bytes, i, end);
		if (code < 0) return false;
		i += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
	}
	return true;
}

/**
 * As decodeUtf8, by the host's native decoder where it has one: the text is
 * made as one string, not by concatenation (a request body is kilobytes,
 * and each step of a concatenation is a new string the size of the text so
 * far). The native decoder replaces what is malformed with U+FFFD, so text
 * holding one is checked against the bytes.
 */
export function decodeUtf8With(decoder: Utf8Decoder | undefined, bytes: Uint8Array, start: number, end: number): string | undefined {
	if (!decoder) return decodeUtf8(bytes, start, end);
	const text = decoder.decode(start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end));
	if (text.indexOf("\u0000") >= 0) return undefined;
	return text.indexOf("\ufffd") < 0 || isUtf8(bytes, start, end) ? text : undefined;
}

/**
 * The code point of the sequence at bytes[i] (which ends before `end`), or
 * -1 where MQTT calls it malformed: a lead byte without its continuation
 * bytes, an overlong form, a surrogate, past U+10FFFF, or U+0000.
 */
function codePointAt(bytes: Uint8Array, i: number, end: number): number {
	const byte = bytes[i]!;
	if (byte === 0) return -1;
	if (byte < 0x80) return byte;
	// A lead byte and its `count` continuation bytes (C2-DF: 1, E0-EF: 2, F0-F4: 3).
	const count = byte >= 0xf0 ? 3 : byte >= 0xe0 ? 2 : 1;
	if (byte < 0xc2 || byte > 0xf4 || i + count >= end) return -1;
	let code = byte & (0x3f >> count);
	for (let k = 1; k <= count; k++) {
		const next = bytes[i + k]!;
		if ((next & 0xc0) !== 0x80) return -1;
		code = (code << 6) | (next & 0x3f);
	}
	// Overlong (below 0x800 in three bytes, 0x10000 in four; C2 rules it out in two), surrogates, past U+10FFFF.
	if (code < 1 << (5 * count + 1) || (code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff) return -1;
	return code;
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
