/*
 * The web server on the board's stack: XS runs it on a 512-slot stack
 * (manifest creation.stack), Node on a far deeper one, so depth is counted
 * here from V8's stack traces. When a slot frees while connections wait
 * with their whole requests already arrived and room to write, each is
 * answered, dropped and the next promoted: one after another, never one
 * inside another's drop (six nested answers overflowed mcsim's stack).
 */
import assert from "node:assert/strict";
import { WebHost } from "test/lib/fake-web";
import { HttpServer, defaultMaxConnections, defaultMaxWaiting } from "web/server";

function depth(): number {
	return new Error().stack!.split("\n").length;
}

describe("the web server's stack depth (Node)", function () {
	it("serves a queue of whole requests one after another, at the same depth, not nested", function () {
		const limit = Error.stackTraceLimit;
		Error.stackTraceLimit = Infinity;
		try {
			const host = new WebHost();
			const depths: number[] = [];
			new HttpServer({ host, port: 80, handle: () => {
				depths.push(depth());
				return { status: 200, body: "ok" };
			} });
			const clients = Array.from({ length: defaultMaxConnections + defaultMaxWaiting }, () => host.connect());
			// Every socket has announced room to write, and the waiting ones hold whole requests, unread.
			host.virtual.advance(1);
			for (const client of clients.slice(defaultMaxConnections)) client.send("GET / HTTP/1.1\r\n\r\n");
			// The served ones answer at once; each drop promotes the queue.
			for (const client of clients.slice(0, defaultMaxConnections)) client.send("GET / HTTP/1.1\r\n\r\n");
			host.virtual.advance(50);
			assert.deepEqual(clients.map((client) => client.status), clients.map(() => 200));
			const promoted = depths.slice(defaultMaxConnections);
			assert.equal(promoted.length, defaultMaxWaiting);
			// Nested, each would be a few frames deeper than the one before it.
			assert.ok(Math.max(...promoted) <= promoted[0]!, `handler depths ${depths.join(", ")}`);
		} finally {
			Error.stackTraceLimit = limit;
		}
	});
});
