/*
 * Base64 to bytes, for HTTP Basic credentials and the stored page. XS on a
 * device has no atob; a lookup table keeps the loop to a few operations per
 * character. Characters outside the alphabet are skipped.
 */
const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const values = new Int8Array(128).fill(-1);
for (let i = 0; i < alphabet.length; i++) values[alphabet.charCodeAt(i)] = i;

export function decodeBase64(text: string): Uint8Array {
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
