/*
 * Hostile input for the device's web server, one case list for every host
 * it runs on: the firmware in mcsim (test/sdk-hostile.test.ts, the real
 * SDK's sockets, stack and release build) and the XS host simulator that
 * `npm start` runs (test/firmware-hostile.test.ts). Each case attacks over loopback
 * and checks the answer; the runner checks, around them, that the device
 * is still running, its readings have no gaps, and (in mcsim) its sockets
 * and heap came back.
 */
import assert from "node:assert/strict";
import net from "node:net";

export interface HostileTarget {
	/** The page's base URL, without the trailing slash. */
	readonly url: string;
	/** Throws, saying why, when the device is no longer running. */
	alive(): void;
	/** How many connections the churn case opens: 10,000 unless the host is slower per connection. */
	readonly churn?: number;
}

export interface HostileCase {
	readonly name: string;
	run(target: HostileTarget): Promise<void>;
}

const port = (target: HostileTarget): number => Number(new URL(target.url).port);

/** Sends `text` as it is and returns the whole answer (the server closes after one); "" when the server closed without one. */
export function exchange(target: HostileTarget, text: string | Buffer, timeout = 30000): Promise<string> {
	return new Promise((resolve, reject) => {
		const socket = net.connect(port(target), "127.0.0.1");
		const chunks: Buffer[] = [];
		const timer = setTimeout(() => {
			socket.destroy();
			reject(new Error(`no answer within ${timeout} ms to ${JSON.stringify(String(text).slice(0, 40))}`));
		}, timeout);
		socket.on("data", (chunk: Buffer) => chunks.push(chunk));
		// A reset after the answer (the server closing while the rest of a refused body still comes) is not a failure.
		socket.on("error", () => socket.destroy());
		socket.on("close", () => {
			clearTimeout(timer);
			resolve(Buffer.concat(chunks).toString("latin1"));
		});
		socket.write(text);
	});
}

function post(path: string, body: string, headers = ""): string {
	return `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

const statusRequest = "GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

function assertStatus(answer: string, status: number, what: string): void {
	assert.match(answer, new RegExp(`^HTTP/1\\.1 ${status} `), `${what}: ${answer.slice(0, 200) || "(closed without an answer)"}`);
}

/** Still serving: a status request gets 200. */
async function assertServing(target: HostileTarget, what: string): Promise<void> {
	target.alive();
	assertStatus(await exchange(target, statusRequest), 200, `after ${what}, GET /api/status`);
}

/** Serving again within `timeout` ms: a status request gets 200. */
async function servingWithin(target: HostileTarget, timeout: number, what: string): Promise<void> {
	const deadline = Date.now() + timeout;
	for (;;) {
		target.alive();
		const answer = await exchange(target, statusRequest);
		if (answer.startsWith("HTTP/1.1 200 ")) return;
		if (Date.now() > deadline) assertStatus(answer, 200, `${timeout} ms after ${what}, GET /api/status`);
		await new Promise((resolve) => setTimeout(resolve, 500));
	}
}

/** The `errors` of a 422 answer, by field. */
function fieldErrors(answer: string): Record<string, string> {
	const body = answer.slice(answer.indexOf("\r\n\r\n") + 4);
	return (JSON.parse(body) as { errors: Record<string, string> }).errors;
}

/** Opens `count` connections that send `head` and then one more byte every `every` ms until the server ends them. */
function slowClients(target: HostileTarget, count: number, head: string, every: number): Promise<string[]> {
	return Promise.all(Array.from({ length: count }, () => new Promise<string>((resolve) => {
		const chunks: Buffer[] = [];
		const socket = net.connect(port(target), "127.0.0.1", () => socket.write(head));
		const drip = setInterval(() => socket.write("X"), every);
		socket.on("data", (chunk: Buffer) => chunks.push(chunk));
		socket.on("error", () => socket.destroy());
		socket.on("close", () => {
			clearInterval(drip);
			resolve(Buffer.concat(chunks).toString("latin1"));
		});
	})));
}

/** Runs `task` over `items`, at most `width` at a time. */
async function inParallel<T, R>(items: readonly T[], width: number, task: (item: T) => Promise<R>): Promise<R[]> {
	const results: R[] = new Array<R>(items.length);
	let next = 0;
	await Promise.all(Array.from({ length: width }, async () => {
		while (next < items.length) {
			const i = next++;
			results[i] = await task(items[i]!);
		}
	}));
	return results;
}

/** Asks for `path` and resets the connection (RST) at once, or at the answer's first bytes: the server writes into a dead socket. */
function askAndReset(target: HostileTarget, path: string, atFirstBytes: boolean): Promise<void> {
	return new Promise((resolve) => {
		const socket = net.connect(port(target), "127.0.0.1", () => {
			socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
			if (!atFirstBytes) socket.resetAndDestroy();
		});
		// A device that stopped answering fails the case in servingWithin, not by hanging here.
		const timer = setTimeout(() => socket.resetAndDestroy(), 15000);
		socket.on("data", () => socket.resetAndDestroy());
		socket.on("error", () => socket.destroy());
		socket.on("close", () => {
			clearTimeout(timer);
			resolve();
		});
	});
}

/**
 * Opens a connection and ends it at one of the points a flaky client
 * picks: at once, mid-request, after a whole request, or at the answer's
 * first bytes, by a close or a reset (RST). `choice` in [0, 1).
 */
function endAtRandom(target: HostileTarget, choice: number): Promise<void> {
	const kind = Math.floor(choice * 6);
	return new Promise((resolve) => {
		const socket = net.connect(port(target), "127.0.0.1", () => {
			if (kind === 1) socket.write("GET /api/sta");
			if (kind >= 2) socket.write(`GET ${kind === 5 ? "/" : "/api/status"} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
			if (kind <= 2) setTimeout(() => (kind === 2 ? socket.resetAndDestroy() : socket.destroy()), Math.floor(choice * 1000) % 8);
		});
		const timer = setTimeout(() => socket.resetAndDestroy(), 15000);
		socket.on("data", () => (kind === 3 ? socket.destroy() : socket.resetAndDestroy()));
		socket.on("error", () => socket.destroy());
		socket.on("close", () => {
			clearTimeout(timer);
			resolve();
		});
	});
}

/** A seeded sequence in [0, 1) (mulberry32): a failing run can be repeated. */
function sequence(seed: number): () => number {
	return () => {
		seed = (seed + 0x6d2b79f5) | 0;
		let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
		t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

const authorization = (password: string): string => `Authorization: Basic ${Buffer.from(`admin:${password}`).toString("base64")}\r\n`;

export const hostileCases: readonly HostileCase[] = [
	{
		name: "nested JSON (700 [ to /api/led, 350 {\"a\": to /api/settings) is refused with 400, not a stack overflow",
		async run(target) {
			assertStatus(await exchange(target, post("/api/led", "[".repeat(700))), 400, "700 [");
			assertStatus(await exchange(target, post("/api/settings", '{"a":'.repeat(350))), 400, "350 {\"a\":");
			// Deep but complete, and within the body limit: still refused before JSON.parse.
			assertStatus(await exchange(target, post("/api/settings", "[".repeat(1500) + "]".repeat(1500))), 400, "1,500 [ ]");
			await assertServing(target, "nested JSON");
		},
	},
	{
		name: "{\"__proto__\":\"x\"} and {\"constructor\":\"x\"} to /api/settings get 422 with the field named; nothing is saved",
		async run(target) {
			for (const key of ["__proto__", "constructor", "toString"]) {
				const answer = await exchange(target, post("/api/settings", `{"${key}":"x"}`));
				assertStatus(answer, 422, key);
				assert.deepEqual(Object.keys(fieldErrors(answer)), [key], answer);
			}
			await assertServing(target, "reserved keys");
		},
	},
	{
		name: "malformed heads and bodies each get their 4xx with a reason",
		async run(target) {
			const cases: [string | Buffer, number][] = [
				["nonsense\r\n\r\n", 400],
				["GET / HTTP/3\r\n\r\n", 505],
				["GET /api/status HTTP/1.1\r\nNo colon here\r\n\r\n", 400],
				[`GET /${"a".repeat(3000)} HTTP/1.1\r\n\r\n`, 431],
				["POST /api/led HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: -1\r\n\r\n", 400],
				["POST /api/led HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", 411],
				["POST /api/led HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 99999\r\n\r\n", 413],
				[post("/api/led", '{"on"'), 400],
				[post("/api/led", '{"on":"maybe"}'), 422],
				[Buffer.concat([Buffer.from("POST /api/led HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 4\r\n\r\n"), Buffer.from([0xff, 0xfe, 0x80, 0x81])]), 400],
			];
			for (const [request, status] of cases) {
				const answer = await exchange(target, request);
				assertStatus(answer, status, JSON.stringify(String(request).slice(0, 40)));
				assert.match(answer, /\{"error":"[^"]{6,}/, answer);
			}
			await assertServing(target, "malformed requests");
		},
	},
	{
		name: "auth: a wrong password is refused (401), an over-long one is never stored, the right one works",
		async run(target) {
			const password = "open sesame";
			const longest = "p".repeat(1600);
			assertStatus(await exchange(target, post("/api/settings", JSON.stringify({ http_password: longest }))), 422, "a 1,600-character http_password");
			assertStatus(await exchange(target, post("/api/settings", JSON.stringify({ http_password: password }))), 200, "setting http_password");
			try {
				assertStatus(await exchange(target, post("/api/led", '{"on":true}')), 401, "no password");
				assertStatus(await exchange(target, post("/api/led", '{"on":true}', authorization("wrong"))), 401, "a wrong password");
				// Signed with the over-long password, the head passes its limit: refused either way.
				assert.match(await exchange(target, post("/api/led", '{"on":true}', authorization(longest))), /^HTTP\/1\.1 (401|431) /, "an over-long password");
				assertStatus(await exchange(target, post("/api/led", '{"on":true}', authorization(password))), 200, "the right password");
			} finally {
				assertStatus(await exchange(target, post("/api/settings", JSON.stringify({ http_password: "" }), authorization(password))), 200, "clearing http_password");
			}
			assertStatus(await exchange(target, post("/api/led", '{"on":false}')), 200, "no password again");
		},
	},
	{
		name: "a change from another site's name (DNS rebinding) or origin is refused with 403",
		async run(target) {
			const foreignHost = await exchange(target, post("/api/led", '{"on":true}').replace("Host: 127.0.0.1", "Host: evil.example"));
			assertStatus(foreignHost, 403, "Host: evil.example");
			const foreignOrigin = await exchange(target, post("/api/settings", '{"device_name":"pwned"}', "Origin: http://evil.example\r\n"));
			assertStatus(foreignOrigin, 403, "Origin: http://evil.example");
			await assertServing(target, "foreign Host and Origin");
		},
	},
	{
		name: "100 rounds of 4 connections that open and close (some mid-request): still serving",
		async run(target) {
			for (let round = 0; round < 100; round++) {
				await Promise.all(Array.from({ length: 4 }, (_, i) => new Promise<void>((resolve) => {
					const socket = net.connect(port(target), "127.0.0.1", () => {
						if (i % 2) socket.write("GET /api/sta");
						setTimeout(() => socket.destroy(), 2);
					});
					socket.on("error", () => resolve());
					socket.on("close", () => resolve());
				})));
			}
			// A connection the server has not yet seen close may hold its slot until the request timeout (10 s).
			await servingWithin(target, 20000, "400 connections opened and closed");
		},
	},
	{
		name: "200 clients that ask for the page or the settings and reset the connection: the writes into dead sockets end them; still serving",
		async run(target) {
			for (let round = 0; round < 50; round++) {
				await Promise.all(["/", "/api/settings", "/", "/api/settings"].map((path, i) => askAndReset(target, path, i >= 2)));
			}
			await servingWithin(target, 20000, "200 connections reset while answered");
		},
	},
	{
		// Closing a socket inside its own callback once let lin's SDK call a callback the collector had freed.
		name: "thousands of connections, 32 at a time, each closed or reset at a random point: still serving",
		async run(target) {
			const next = sequence(0x5eed);
			const count = target.churn ?? 10000;
			await inParallel(Array.from({ length: count }, () => next()), 32, (choice) => endAtRandom(target, choice));
			await servingWithin(target, 20000, `${count} connections ended at random points`);
		},
	},
	{
		name: "bursts of 8 parallel clients: every request answered, none shed",
		async run(target) {
			for (let burst = 0; burst < 10; burst++) {
				const answers = await Promise.all(Array.from({ length: 8 }, () => exchange(target, statusRequest)));
				answers.forEach((answer, i) => assertStatus(answer, 200, `burst ${burst}, client ${i}`));
			}
		},
	},
	{
		name: "slowloris: 4 clients dripping a head byte by byte are cut (408) and never lock others out",
		async run(target) {
			const slow = slowClients(target, 4, "GET /api/status HTTP/1.1\r\nX-Slow: ", 500);
			await new Promise((resolve) => setTimeout(resolve, 300));
			assertStatus(await exchange(target, statusRequest), 200, "a request while 4 clients drip");
			for (const answer of await slow) assert.match(answer, /^HTTP\/1\.1 408 |^$/, `a dripping client: ${answer.slice(0, 80)}`);
		},
	},
	{
		name: "a flood of 1,000 requests, 8 at a time: every one answered 200",
		async run(target) {
			const answers = await inParallel(Array.from({ length: 1000 }, (_, i) => i), 8, () => exchange(target, statusRequest));
			const statuses = answers.map((answer) => answer.slice(0, 12));
			assert.deepEqual(statuses.filter((status) => status !== "HTTP/1.1 200"), [], "every request answered 200");
		},
	},
];

/**
 * One mocha test per case against `target()` (known once the suite's
 * `before` has run); `context()` adds what the host can tell to a failure.
 */
export function itEachHostileCase(target: () => HostileTarget, context: () => string = () => ""): void {
	for (const hostile of hostileCases) {
		it(hostile.name, async function () {
			try {
				await hostile.run(target());
			} catch (error) {
				const more = context();
				throw more ? new Error(`${(error as Error).message}\n${more}`) : error;
			}
			target().alive();
		});
	}
}
