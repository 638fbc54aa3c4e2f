/*
 * A DNS server on loopback for the tests: answers A queries from a table,
 * and can instead say NXDOMAIN, answer with no address, with a server
 * failure, with a malformed reply, or not at all. Port 0 (the default)
 * picks a free port; CI, which runs as root, may bind 127.0.0.53:53 so
 * that the firmware's own dns_servers setting reaches it.
 *
 * Also runnable on its own, for trying the desktop simulator by hand:
 *   node --import ./scripts/register.mjs build/js/test/support/dns-responder.js 127.0.0.53 53 broker.test=127.0.0.1
 */
import dgram from "node:dgram";

export type DnsBehaviour = { address: string } | "nxdomain" | "nodata" | "servfail" | "malformed" | "short" | "silent";

export interface DnsQuery {
	name: string;
	type: number;
	at: number;
	from: string;
}

export class DnsResponder {
	readonly host: string;
	readonly port: number;
	/** What each name gets; a name not listed gets NXDOMAIN. Names are matched without regard to case. */
	readonly names = new Map<string, DnsBehaviour>();
	readonly queries: DnsQuery[] = [];
	/** Called with each query before it is answered: a test may change what the name gets. */
	onQuery: ((query: DnsQuery) => void) | undefined;
	readonly #socket: dgram.Socket;

	private constructor(socket: dgram.Socket, host: string, port: number) {
		this.#socket = socket;
		this.host = host;
		this.port = port;
		socket.on("message", (message, peer) => this.#answer(message, peer));
	}

	static async start(host = "127.0.0.1", port = 0): Promise<DnsResponder> {
		const socket = dgram.createSocket("udp4");
		await new Promise<void>((resolve, reject) => {
			socket.once("error", reject);
			socket.bind(port, host, () => {
				socket.off("error", reject);
				resolve();
			});
		});
		return new DnsResponder(socket, host, socket.address().port);
	}

	set(name: string, behaviour: DnsBehaviour | string): this {
		this.names.set(name.toLowerCase(), typeof behaviour === "string" && /^\d/.test(behaviour) ? { address: behaviour } : behaviour as DnsBehaviour);
		return this;
	}

	queriesFor(name: string): DnsQuery[] {
		return this.queries.filter((query) => query.name === name.toLowerCase());
	}

	async stop(): Promise<void> {
		await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
	}

	#answer(query: Buffer, peer: dgram.RemoteInfo): void {
		const question = parseQuestion(query);
		if (!question) return;
		const name = question.name.toLowerCase();
		const record = { name, type: question.type, at: performance.now(), from: `${peer.address}:${peer.port}` };
		this.queries.push(record);
		this.onQuery?.(record);
		const behaviour = this.names.get(name) ?? "nxdomain";
		if (behaviour === "silent") return;
		const reply = buildReply(query, question.end, question.type, behaviour);
		this.#socket.send(reply, peer.port, peer.address);
	}
}

function parseQuestion(query: Buffer): { name: string; type: number; end: number } | undefined {
	if (query.length < 17 || (query[2]! & 0x80) !== 0) return undefined;
	const labels: string[] = [];
	let offset = 12;
	for (;;) {
		const length = query[offset];
		if (length === undefined || length > 63) return undefined;
		offset++;
		if (length === 0) break;
		labels.push(query.subarray(offset, offset + length).toString("latin1"));
		offset += length;
	}
	if (offset + 4 > query.length) return undefined;
	return { name: labels.join("."), type: query.readUInt16BE(offset), end: offset + 4 };
}

function buildReply(query: Buffer, questionEnd: number, type: number, behaviour: Exclude<DnsBehaviour, "silent">): Buffer {
	const header = Buffer.alloc(12);
	query.copy(header, 0, 0, 2);
	const rcode = behaviour === "nxdomain" ? 3 : behaviour === "servfail" ? 2 : 0;
	header.writeUInt16BE(0x8180 | rcode, 2);
	header.writeUInt16BE(1, 4);
	const question = query.subarray(12, questionEnd);
	if (behaviour === "short") return header.subarray(0, 7);
	if (behaviour === "malformed") {
		// Claims an answer whose name points past the end of the packet, and stops short.
		header.writeUInt16BE(1, 6);
		return Buffer.concat([header, question, Buffer.from([0xc0, 0xff, 0x00, 0x01, 0x00])]);
	}
	if (typeof behaviour !== "object" || type !== 1) return Buffer.concat([header, question]);
	header.writeUInt16BE(1, 6);
	const answer = Buffer.alloc(16);
	answer.writeUInt16BE(0xc00c, 0);
	answer.writeUInt16BE(1, 2);
	answer.writeUInt16BE(1, 4);
	answer.writeUInt32BE(60, 6);
	answer.writeUInt16BE(4, 10);
	behaviour.address.split(".").forEach((part, i) => answer.writeUInt8(Number(part), 12 + i));
	return Buffer.concat([header, question, answer]);
}

// Standalone: host port name=address|behaviour ...
if (process.argv[1]?.endsWith("dns-responder.js")) {
	const [host = "127.0.0.53", port = "53", ...entries] = process.argv.slice(2);
	const responder = await DnsResponder.start(host, Number(port));
	for (const entry of entries) {
		const [name, value] = entry.split("=");
		responder.set(name!, value as DnsBehaviour | string);
	}
	console.log(`dns responder on ${responder.host}:${responder.port}`);
	setInterval(() => {}, 1 << 30);
	let seen = 0;
	setInterval(() => {
		for (; seen < responder.queries.length; seen++) console.log(`query ${responder.queries[seen]!.name} type ${responder.queries[seen]!.type} from ${responder.queries[seen]!.from}`);
	}, 200);
}
