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
		} else if (byte >= 0xc2 && byte <= 0xdf) {
			if (i + 1 >= end) return undefined;
			const b1 = bytes[i + 1]!;
			if ((b1 & 0xc0) !== 0x80) return undefined;
			code = ((byte & 0x1f) << 6) | (b1 & 0x3f);
			i += 2;
		} else if (byte >= 0xe0 && byte <= 0xef) {
			if (i + 2 >= end) return undefined;
			const b1 = bytes[i + 1]!, b2 = bytes[i + 2]!;
			if ((b1 & 0xc0) !== 0x80 || (b2 & 0xc0) !== 0x80) return undefined;
			code = ((byte & 0x0f) << 12) | ((b1 & 0x3f) << 6) | (b2 & 0x3f);
			if (code < 0x800 || (code >= 0xd800 && code <= 0xdfff)) return undefined;
			i += 3;
		} else if (byte >= 0xf0 && byte <= 0xf4) {
			if (i + 3 >= end) return undefined;
			const b1 = bytes[i + 1]!, b2 = bytes[i + 2]!, b3 = bytes[i + 3]!;
			if ((b1 & 0xc0) !== 0x80 || (b2 & 0xc0) !== 0x80 || (b3 & 0xc0) !== 0x80) return undefined;
			code = ((byte & 0x07) << 18) | ((b1 & 0x3f) << 12) | ((b2 & 0x3f) << 6) | (b3 & 0x3f);
			if (code < 0x10000 || code > 0x10ffff) return undefined;
			i += 4;
		} else {
			return undefined;
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
