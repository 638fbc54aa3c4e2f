/*
 * The room a write may take on Moddable's ECMA-419 TLS socket. Its write()
 * returns the TCP count left less 32 (modules/crypt/ssl/session_419.js),
 * but each write is one TLS record, up to 69 bytes more than its data
 * (AES-CBC with HMAC-SHA256: a 5-byte header, a 16-byte explicit IV, a
 * 32-byte MAC, 1-16 bytes of padding; the GCM suites add 29). Writing all
 * it returned overran the TCP count partway through a turn: "would block",
 * the record lost, the link dropped. The count onWritable announces leaves
 * 96 and needs nothing more.
 */

/** The most a TLS record of Moddable's adds to its data. */
export const tlsRecordOverhead = 69;

/** What a write may take after the TLS socket's write returned `left`: room left for one record's overhead. */
export function tlsRoom(left: number): number {
	const room = left - (tlsRecordOverhead - 32);
	return room > 0 ? room : 0;
}
