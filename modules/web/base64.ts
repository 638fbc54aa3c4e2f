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
	const bytes = new Uint8Array((text.length * 3) >> 2);
	return bytes.subarray(0, decodeInto(text, 0, 0, bytes));
}

/** How many bytes base64 `text` with nothing outside the alphabet decodes to. */
export function base64Length(text: string): number {
	const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
	return (text.length >> 2) * 3 - padding;
}

/**
 * Bytes [start, end) of what base64 `text` with nothing outside the alphabet
 * decodes to, read from the 4-character groups that hold them: the page's
 * gzip bytes a slice at a time, with no copy of the text (not even of the
 * slice's groups: a fixed arena serving the page over TLS has about 2 KB of
 * chunks free, and fromBase64 would need the groups as a string).
 */
export function base64Slice(text: string, start: number, end: number): Uint8Array {
	const first = Math.floor(start / 3);
	const bytes = new Uint8Array(end - start);
	decodeInto(text, first * 4, start - first * 3, bytes);
	return bytes;
}

/** Decodes `text` from character `from` into `bytes`, the first `skip` bytes left out, until `bytes` is full; returns how many it wrote. */
function decodeInto(text: string, from: number, skip: number, bytes: Uint8Array): number {
	let written = 0, bits = 0, count = 0;
	for (let i = from; written < bytes.length && i < text.length; i++) {
		const code = text.charCodeAt(i);
		const value = code < 128 ? values[code]! : -1;
		if (value < 0) continue;
		bits = (bits << 6) | value;
		count += 6;
		if (count >= 8) {
			count -= 8;
			if (skip > 0) skip--;
			else bytes[written++] = (bits >> count) & 0xff;
		}
	}
	return written;
}
