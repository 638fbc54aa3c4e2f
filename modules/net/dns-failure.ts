/*
 * One wording for every way a look-up fails, so that a user reads the same
 * line on the board, the desktop simulator and the host simulators:
 * `cannot resolve broker.lan: no answer from 192.168.1.1 within 5000 ms`.
 */

export type DnsFailure =
	/** No reply at all within the time allowed. */
	| "timeout"
	/** RCODE 3: the name does not exist. */
	| "nxdomain"
	/** The name exists but has no IPv4 (A) record. */
	| "nodata"
	/** RCODE 2, or another error code the server gave. */
	| "servfail"
	/** A reply that cannot be parsed. */
	| "malformed"
	/** The query could not be sent (ICMP port unreachable, no route). */
	| "unreachable"
	/** Nobody to ask. */
	| "no-servers";

/** "192.168.1.1", "192.168.1.1 or 1.1.1.1", or "the network's DNS servers". */
export function describeServers(servers: readonly string[]): string {
	return servers.length ? servers.join(" or ") : "the network's DNS servers";
}

/** The reason part of the message; `detail` adds what the host knows (a code, the parser's complaint). */
export function describeDnsFailure(failure: DnsFailure, servers: readonly string[], timeout: number, detail?: string): string {
	const from = describeServers(servers);
	const extra = detail ? ` (${detail})` : "";
	switch (failure) {
		case "timeout": return `no answer from ${from} within ${timeout} ms${extra}`;
		case "nxdomain": return `no such name (NXDOMAIN from ${from})${extra}`;
		case "nodata": return `${from} knows the name but has no IPv4 address for it${extra}`;
		case "servfail": return `${from} failed to answer (server failure)${extra}`;
		case "malformed": return `malformed reply from ${from}${extra}`;
		case "unreachable": return `cannot reach ${from}${extra}`;
		case "no-servers": return `no DNS server to ask: set dns_servers${extra}`;
	}
}
