/*
 * `embedded:io/socket/tcp/tls` for the engine bench, which meters plain
 * TCP: the board's socket wrapper imports it, and nothing here opens one.
 */
export default class NoTls {
	constructor() {
		throw new Error("the engine bench has no TLS socket");
	}
}
