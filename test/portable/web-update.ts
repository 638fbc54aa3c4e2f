/*
 * Firmware updates over the network (POST /api/update) on a virtual clock,
 * on Node and on XS, against a fake of embedded:update with the real one's
 * limits: the image streams through in the socket's chunks, never whole;
 * its size is checked against the partition and its SHA-256 against the
 * sender's before the boot partition switches; every failure (refused
 * chunk, wrong hash, stall, reset, no password) leaves the running firmware
 * the one that boots, and the device keeps serving.
 */
import { defineSuite } from "test/lib/suite";
import * as assert from "test/lib/assert";
import { WebHost, type FakeClient } from "test/lib/fake-web";
import { FakeUpdater, fakeSha256, imageMagic } from "test/lib/fake-updater";
import { hex, sha256 } from "test/lib/sha256";
import { HttpConnection, defaultLimits, type HttpRejection, type HttpRequest } from "web/http";
import { startDevice, type Device } from "firmware/device";
import { restartDelay } from "web/update";
import { readSize } from "web/server";
import type { FirmwareUpdater, Sha256 } from "platform";

const ascii = (value: string): Uint8Array => Uint8Array.from(value, (c) => c.charCodeAt(0));
const build = { ssid: "home", sensor: "simulated", sensor_interval: "1000" };

class OtaHost extends WebHost {
	readonly updater: FirmwareUpdater | undefined = new FakeUpdater();
	sha256(): Sha256 {
		return fakeSha256();
	}
	get fake(): FakeUpdater {
		return this.updater as FakeUpdater;
	}
}

class NoOtaHost extends WebHost {}

function boot(overrides: Record<string, string> = {}): { host: OtaHost; device: Device } {
	const host = new OtaHost();
	const device = startDevice(host, { ...build, ...overrides });
	host.virtual.advance(300);
	return { host, device };
}

/** A recognisable image: the ESP32 app magic, then a pattern. */
function image(length: number): Uint8Array {
	const bytes = new Uint8Array(length);
	for (let i = 0; i < length; i++) bytes[i] = (i * 7 + (i >> 8)) & 0xff;
	bytes[0] = imageMagic;
	return bytes;
}

function uploadHead(length: number, headers: Record<string, string> = {}, path = "/api/update"): string {
	const all: Record<string, string> = { Host: "device", "Content-Type": "application/octet-stream", "Content-Length": String(length), ...headers };
	let head = `POST ${path} HTTP/1.1\r\n`;
	for (const name of Object.keys(all)) head += `${name}: ${all[name]}\r\n`;
	return head + "\r\n";
}

/** Sends the head, then the body in TCP-sized pieces, a millisecond apart. */
function upload(host: WebHost, body: Uint8Array, headers: Record<string, string> = {}, options: { stopAt?: number; chunk?: number; path?: string } = {}): FakeClient {
	const client = host.connect();
	client.send(uploadHead(body.length, headers, options.path));
	const chunk = options.chunk ?? 1460;
	const end = options.stopAt ?? body.length;
	for (let at = 0; at < end && !client.closed; at += chunk) {
		client.send(body.subarray(at, Math.min(at + chunk, end)));
		host.virtual.advance(1);
	}
	host.virtual.advance(20);
	return client;
}

function status(host: WebHost): Record<string, unknown> {
	return host.request("GET", "/api/status").json.update as Record<string, unknown>;
}

function untouched(host: OtaHost): void {
	assert.equal(host.fake.boot, "running", "the running firmware must stay the one that boots");
	host.virtual.advance(restartDelay * 3);
	assert.equal(host.fake.restarts, 0, "no restart after a failed upload");
}

export const suite = defineSuite("firmware update (OTA)", {
	"http: a streamed body is handed out chunk by chunk as it arrives, bounded by Content-Length"() {
		const http = new HttpConnection(0, defaultLimits, { accepts: (method, path) => method === "POST" && path === "/up" });
		http.receive(ascii("POST /up HTTP/1.1\r\nContent-Length: 10000\r\n\r\nabc"), 0);
		const request = http.pollRequest() as HttpRequest;
		assert.equal(request.streamed, 10000);
		assert.equal(request.body.length, 0, "the body is not gathered");
		assert.equal(String.fromCharCode(...http.pollBody()!), "abc");
		assert.equal(http.pollBody(), undefined);
		let total = 3;
		for (let i = 0; i < 10; i++) {
			http.receive(new Uint8Array(1000), 10 + i);
			const chunk = http.pollBody()!;
			total += chunk.length;
			assert.ok(chunk.length <= 1000);
		}
		assert.equal(total, 10000, "bytes past Content-Length are not handed out");
		assert.ok(http.bodyComplete);
		// Other routes keep the 4,096-byte bound, and a streamed route needs a length.
		const other = new HttpConnection(0, defaultLimits, { accepts: (_m, path) => path === "/up" });
		other.receive(ascii("POST /api/led HTTP/1.1\r\nContent-Length: 10000\r\n\r\n"));
		assert.equal((other.pollRequest() as HttpRejection).status, 413);
		const unsized = new HttpConnection(0, defaultLimits, { accepts: (_m, path) => path === "/up" });
		unsized.receive(ascii("POST /up HTTP/1.1\r\n\r\n"));
		assert.equal((unsized.pollRequest() as HttpRejection).status, 411);
	},

	"http: a streamed body that stalls is refused 408 after requestTimeout; one that trickles is bounded by streamTimeout"() {
		const limits = { ...defaultLimits, requestTimeout: 1000, streamTimeout: 5000 };
		const stalled = new HttpConnection(0, limits, { accepts: () => true });
		stalled.receive(ascii("POST /up HTTP/1.1\r\nContent-Length: 100\r\n\r\n"), 0);
		stalled.pollRequest();
		stalled.receive(new Uint8Array(10), 900);
		stalled.handleTimeout(1500);
		assert.equal(stalled.pollRequest(), undefined, "progress moved the deadline on");
		assert.equal(stalled.pollTimeout(), 1900);
		stalled.handleTimeout(1900);
		assert.equal((stalled.pollRequest() as HttpRejection).status, 408);
		const trickle = new HttpConnection(0, limits, { accepts: () => true });
		trickle.receive(ascii("POST /up HTTP/1.1\r\nContent-Length: 100\r\n\r\n"), 0);
		trickle.pollRequest();
		for (let t = 500; t < 5000; t += 500) trickle.receive(new Uint8Array(1), t);
		assert.equal(trickle.pollTimeout(), 5000);
		trickle.handleTimeout(5000);
		const reason = (trickle.pollRequest() as HttpRejection).reason;
		assert.ok(/within 5000 ms/.test(reason), reason);
	},

	"a 200 KB image with its SHA-256 streams into the updater, switches the boot partition and restarts"() {
		const { host } = boot();
		const body = image(200 * 1024);
		const client = host.connect();
		client.send(uploadHead(body.length, { "X-Image-SHA256": hex(sha256(body)) }));
		for (let at = 0; at < body.length / 2; at += 1460) {
			client.send(body.subarray(at, at + 1460));
			host.virtual.advance(1);
		}
		const midway = status(host);
		assert.equal(midway.state, "receiving");
		assert.equal(midway.total, body.length);
		assert.ok((midway.received as number) > 90000 && (midway.received as number) < 110000, `progress ${midway.received}`);
		assert.equal(host.fake.boot, "running");
		for (let at = Math.ceil(body.length / 2 / 1460) * 1460; at < body.length; at += 1460) {
			client.send(body.subarray(at, at + 1460));
			host.virtual.advance(1);
		}
		host.virtual.advance(20);
		assert.equal(client.status, 200, client.response);
		assert.deepEqual(client.json, { updated: true, bytes: body.length, verified: true, restarting: true });
		assert.ok(host.fake.boot !== "running" && hex(sha256(host.fake.boot)) === hex(sha256(body)), "the image written is the image sent");
		assert.equal(host.fake.largestWrite, readSize, "written a read at a time as it arrived, never gathered");
		assert.equal(status(host).state, "complete");
		assert.equal(host.fake.restarts, 0, "the answer goes out before the restart");
		host.virtual.advance(restartDelay);
		assert.equal(host.fake.restarts, 1);
	},

	"the SHA-256 may come as ?sha256=, and without one the image is taken on the platform's own check"() {
		const { host } = boot();
		const body = image(5000);
		assert.equal(upload(host, body, {}, { path: `/api/update?sha256=${hex(sha256(body)).toUpperCase()}` }).json.verified, true);
		const second = boot();
		const plain = upload(second.host, body);
		assert.equal(plain.status, 200);
		assert.equal(plain.json.verified, false);
	},

	"a wrong SHA-256 is refused after the last byte, before the partition switches"() {
		const { host } = boot();
		const body = image(20000);
		const client = upload(host, body, { "X-Image-SHA256": hex(sha256(image(19999))) });
		assert.equal(client.status, 422);
		assert.ok(/SHA-256 mismatch: expected [0-9a-f]{64}, the image is [0-9a-f]{64}; the running firmware stays/.test(String(client.json.error)), String(client.json.error));
		assert.equal(host.fake.aborted, 1);
		assert.equal(status(host).state, "failed");
		untouched(host);
		// The device is not stuck: the right image goes through next.
		assert.equal(upload(host, body, { "X-Image-SHA256": hex(sha256(body)) }).status, 200);
	},

	"an image larger than the OTA partition is refused before a byte is written"() {
		const { host } = boot();
		host.fake.capacity = 64 * 1024;
		const client = upload(host, image(64 * 1024 + 1));
		assert.equal(client.status, 413);
		assert.equal(client.json.error, `the image is ${64 * 1024 + 1} bytes; the OTA partition holds ${64 * 1024}`);
		assert.equal(host.fake.opened, 0);
		assert.equal(upload(host, image(64 * 1024)).status, 200, "exactly the partition's size fits");
	},

	"an upload cut off by the client, or stalled, is aborted and the running firmware stays"() {
		const { host } = boot();
		const body = image(50000);
		const client = host.connect();
		client.send(uploadHead(body.length));
		client.send(body.subarray(0, 20000));
		host.virtual.advance(5);
		client.reset();
		host.virtual.advance(5);
		assert.equal(host.fake.aborted, 1, "reset: aborted");
		assert.ok(/closed before the body was complete/.test(String(status(host).error)), String(status(host).error));
		untouched(host);

		const stalled = upload(host, body, {}, { stopAt: 30000 });
		assert.equal(stalled.status, 0, "nothing is answered while the body may still come");
		host.virtual.advance(defaultLimits.requestTimeout);
		assert.equal(stalled.status, 408);
		assert.equal(host.fake.aborted, 2, "stall: aborted");
		assert.ok(stalled.closed);
		untouched(host);
	},

	"a chunk the updater refuses (not an app image), or an image it finds invalid, ends the upload with the reason"() {
		const { host } = boot();
		const notImage = image(8000);
		notImage[0] = 0x7f;
		const client = upload(host, notImage);
		assert.equal(client.status, 422);
		assert.ok(/refused at byte 0: write failed; the running firmware stays/.test(String(client.json.error)), String(client.json.error));
		assert.ok(client.closed, "the rest of the body is not read");
		untouched(host);
		host.fake.invalidImage = true;
		const invalid = upload(host, image(8000));
		assert.equal(invalid.status, 422);
		assert.ok(/the image is not valid: end failed/.test(String(invalid.json.error)), String(invalid.json.error));
		untouched(host);
	},

	"every refusal before the body: password, content type, method, busy, malformed hash, empty image"() {
		const { host } = boot({ http_password: "s3cret" });
		const body = image(3000);
		assert.equal(upload(host, body).status, 401);
		const auth = { Authorization: `Basic ${"OnMzY3JldA=="}` }; // ":s3cret"
		assert.equal(upload(host, body, { ...auth, "Content-Type": "application/x-www-form-urlencoded" }).status, 415);
		assert.equal(host.request("GET", "/api/update").status, 405);
		assert.equal(host.request("GET", "/api/update").header("Allow"), "POST");
		assert.equal(upload(host, body, { ...auth, "X-Image-SHA256": "abc" }).status, 400);
		assert.equal(upload(host, new Uint8Array(0), auth).status, 400);
		assert.equal(host.fake.opened, 0, "nothing refused reached the updater");
		const first = host.connect();
		first.send(uploadHead(body.length, auth));
		first.send(body.subarray(0, 1000));
		host.virtual.advance(2);
		const second = upload(host, body, auth);
		assert.equal(second.status, 409);
		assert.ok(/already being received \(1000 of 3000 bytes\)/.test(String(second.json.error)), String(second.json.error));
		first.send(body.subarray(1000));
		host.virtual.advance(10);
		assert.equal(first.status, 200);
		assert.equal(upload(host, body, auth).status, 409, "restarting into the new image: no second one");
	},

	"a host without embedded:update answers 501 and keeps serving"() {
		const host = new NoOtaHost();
		startDevice(host, build);
		host.virtual.advance(300);
		const client = upload(host, image(3000));
		assert.equal(client.status, 501);
		assert.ok(/fake cannot update its firmware over the network: OTA needs embedded:update \(ESP32\)/.test(String(client.json.error)), String(client.json.error));
		assert.equal(host.request("GET", "/api/status").json.update, null);
		assert.equal(host.request("GET", "/api/status").status, 200);
	},

	"readings keep flowing to the broker while an image streams in"() {
		const { host } = boot();
		const before = host.broker.published.length;
		const body = image(300 * 1024);
		const client = host.connect();
		client.send(uploadHead(body.length));
		for (let at = 0; at < body.length; at += 1460) {
			client.send(body.subarray(at, at + 1460));
			host.virtual.advance(20);
		}
		host.virtual.advance(20);
		assert.equal(client.status, 200);
		assert.ok(host.broker.published.length - before >= 3, `readings published during a ${Math.round(body.length / 1460 * 20 / 1000)} s upload: ${host.broker.published.length - before}`);
	},
});
