/*
 * Base64 to bytes, for HTTP Basic credentials and the stored page. XS has
 * no atob; where Uint8Array.fromBase64 is missing (older XS, as in the XS
 * host simulator's engine), a lookup table keeps the loop to a few
 * operations per character. Characters outside the alphabet are skipped.
 */
const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const values = new Int8Array(128).fill(-1);
for (let i = 0; i < alphabet.length; i++) values[alphabet.charCodeAt(i)] = i;

type NativeBase64 = { fromBase64?(text: string): Uint8Array };

export function decodeBase64(text: string): Uint8Array {
	// ES2026 Uint8Array.fromBase64 is native in Moddable's XS (8.x): ~100 times cheaper than this loop.
	const builtin = (Uint8Array as unknown as NativeBase64).fromBase64;
	if (builtin) {
		try {
			return builtin.call(Uint8Array, text.replace(/[^A-Za-z0-9+/=]/g, ""));
		} catch {
			return new Uint8Array(0);
		}
	}
	return decodeLoop(text);
}

/** How many bytes base64 `text` with nothing outside the alphabet decodes to. */
export function base64Length(text: string): number {
	const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
	return (text.length >> 2) * 3 - padding;
}

/**
 * Bytes [start, end) of what base64 `text` with nothing outside the alphabet
 * decodes to, decoding only the 4-character groups that hold them: the
 * page's gzip bytes a slice at a time, with no copy of the whole text.
 */
export function base64Slice(text: string, start: number, end: number): Uint8Array {
	const first = Math.floor(start / 3);
	const groups = text.slice(first * 4, Math.ceil(end / 3) * 4);
	const builtin = (Uint8Array as unknown as NativeBase64).fromBase64;
	const bytes = builtin ? builtin.call(Uint8Array, groups) : decodeLoop(groups);
	return bytes.subarray(start - first * 3, end - first * 3);
}

function decodeLoop(text: string): Uint8Array {
	const bytes = new Uint8Array((text.length * 3) >> 2);
	let length = 0, bits = 0, count = 0;
	for (let i = 0; i < text.length; i++) {
		const code = text.charCodeAt(i);
		const value = code < 128 ? values[code]! : -1;
		if (value < 0) continue;
		bits = (bits << 6) | value;
		count += 6;
		if (count >= 8) {
			count -= 8;
			bytes[length++] = (bits >> count) & 0xff;
		}
	}
	return bytes.subarray(0, length);
}
