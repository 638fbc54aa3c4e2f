/*
 * The web page's routes, as a pure function from a request to a response:
 *
 *   GET  /               the page (gzip; uncompressed to a client that takes no gzip)
 *   GET  /api/status     live state and diagnostics
 *   GET  /api/readings   the recent readings the device keeps (the chart's start)
 *   POST /api/led        the MQTT command grammar (firmware/led: on, OFF, {"state":"ON"}, ...) or {"on": true|false}
 *   GET  /api/settings   every editable setting, its value and where it comes from
 *   POST /api/settings   {key: value, ...}; null forgets a stored value
 *   POST /api/settings/reset   factory reset
 *   POST /api/update     a firmware image (application/octet-stream), streamed
 *
 * Changes (LED, settings) need the http_password when one is set (HTTP
 * Basic, any user name); so does reading the settings. A change must come
 * as application/json, which a cross-site HTML form cannot send. Every
 * refusal is a 4xx whose JSON body says why, and leaves the device as it was.
 */
import { decodeUtf8 } from "utf8";
import { errorResponse, jsonHeaders, jsonResponse, type BodySource, type HttpRequest, type HttpResponse } from "web/http";
import { pageGzipBase64, pageHtml } from "web/page";
import { parseLedCommand, type LedCommand } from "firmware/led";
import { base64Length, base64Slice, decodeBase64 } from "web/base64";
import { jsonText, maxJsonDepth, parseJson } from "web/json";
import { isIPv4 } from "net/ipv4";
import type { SettingsDocument, UpdateResult } from "web/settings";
import type { BodySink } from "web/server";

export interface DeviceApi {
	status(): Record<string, unknown>;
	setLed(command: LedCommand): boolean;
	readings(): Record<string, unknown>;
	/** The editable settings as JSON, made a setting at a time as it is sent. */
	settings(): SettingsDocument;
	updateSettings(changes: unknown): UpdateResult;
	/** Forgets the stored settings; returns the parts of the firmware that restart. */
	factoryReset(): readonly string[];
	/** The password changes need; empty for none. Read per request, so a new one applies at once. */
	password(): string;
	/** Takes a firmware image (web/update), or refuses it. */
	beginUpdate(request: HttpRequest): BodySink | HttpResponse;
}

/** The one route whose body is streamed: a firmware image is far larger than any body kept in RAM. */
export const updatePath = "/api/update";

export function isStreamed(method: string, path: string): boolean {
	return method === "POST" && path === updatePath;
}

/** POST /api/update: the password and the content type, then the image to the updater. */
export function openUpload(request: HttpRequest, api: DeviceApi): BodySink | HttpResponse {
	const refused = refuseChange(request, api, "application/octet-stream");
	return refused ?? api.beginUpdate(request);
}

type Handler = (request: HttpRequest, api: DeviceApi) => HttpResponse;

interface Route {
	method: string;
	/** A change: needs the password and a JSON body. */
	guarded: boolean;
	handle: Handler;
}

const routes: Record<string, Route[]> = {
	"/": [{ method: "GET", guarded: false, handle: page }],
	"/api/status": [{ method: "GET", guarded: false, handle: (_request, api) => jsonResponse(200, api.status()) }],
	"/api/readings": [{ method: "GET", guarded: false, handle: (_request, api) => jsonResponse(200, api.readings()) }],
	"/api/led": [{ method: "POST", guarded: true, handle: led }],
	"/api/settings": [
		{ method: "GET", guarded: true, handle: (_request, api) => ({ status: 200, headers: jsonHeaders, body: api.settings() }) },
		{ method: "POST", guarded: true, handle: settings },
	],
	"/api/settings/reset": [{ method: "POST", guarded: true, handle: (_request, api) => jsonResponse(200, { reset: true, restarting: api.factoryReset() }) }],
};

export function route(request: HttpRequest, api: DeviceApi): HttpResponse {
	if (request.path === updatePath) return errorResponse(405, `${request.method} is not allowed on ${updatePath}; use POST`, [["Allow", "POST"]]);
	const candidates = routes[request.path];
	if (!candidates || !Object.prototype.hasOwnProperty.call(routes, request.path)) return errorResponse(404, `no such path: ${request.path.slice(0, 64)}`);
	const match = candidates.find((candidate) => candidate.method === request.method || (request.method === "HEAD" && candidate.method === "GET"));
	if (!match) {
		const allowed = candidates.map((candidate) => candidate.method).join(", ");
		return errorResponse(405, `${request.method} is not allowed on ${request.path}; use ${allowed}`, [["Allow", allowed]]);
	}
	if (match.guarded) {
		const refused = refuseChange(request, api, "application/json");
		if (refused) return refused;
	}
	const response = match.handle(request, api);
	return request.method === "HEAD" ? { ...response, body: new Uint8Array(0) } : response;
}

/**
 * A change must name this device in Host and come from its own page, the
 * password when one is set, and a POST body of the given type, which a
 * cross-site HTML form cannot send without a preflight.
 */
function refuseChange(request: HttpRequest, api: DeviceApi, type: string): HttpResponse | undefined {
	if (request.method !== "GET" && request.method !== "HEAD") {
		const foreign = foreignOrigin(request.headers.host, request.headers.origin);
		if (foreign) return errorResponse(403, foreign);
	}
	const password = api.password();
	if (password && !authorized(request.headers.authorization, password)) {
		return errorResponse(401, "this device has a password (http_password): sign in to change it", [["WWW-Authenticate", 'Basic realm="room1", charset="UTF-8"']]);
	}
	const given = (request.headers["content-type"] ?? "").toLowerCase();
	if (request.method === "POST" && !(given === type || given.startsWith(`${type};`) || given.startsWith(`${type} `))) {
		return errorResponse(415, `send the body as Content-Type: ${type}`);
	}
	return undefined;
}

/**
 * Gzip to a client that takes it; the same page uncompressed (kept in flash
 * beside it) to any other. Either is made a slice at a time as the socket
 * takes it: a copy of the whole page would need a chunk larger than a fixed
 * arena has free.
 */
function page(request: HttpRequest): HttpResponse {
	const gzip = /\bgzip\b/.test(request.headers["accept-encoding"] ?? "");
	const headers: [string, string][] = [["Content-Type", "text/html; charset=utf-8"], ["Cache-Control", "no-cache"], ["X-Frame-Options", "DENY"], ["Vary", "Accept-Encoding"]];
	if (gzip) headers.push(["Content-Encoding", "gzip"]);
	return { status: 200, headers, body: gzip ? new Base64Body(pageGzipBase64) : new AsciiBody(pageHtml) };
}

/** The page is ASCII (scripts/build-page.mjs checks it), one byte a character. */
class AsciiBody implements BodySource {
	readonly text: string;
	readonly length: number;
	constructor(text: string) {
		this.text = text;
		this.length = text.length;
	}

	slice(start: number, end: number): Uint8Array {
		const bytes = new Uint8Array(end - start);
		for (let i = start; i < end; i++) bytes[i - start] = this.text.charCodeAt(i);
		return bytes;
	}
}

class Base64Body implements BodySource {
	readonly text: string;
	readonly length: number;
	constructor(text: string) {
		this.text = text;
		this.length = base64Length(text);
	}

	slice(start: number, end: number): Uint8Array {
		return base64Slice(this.text, start, end);
	}
}

/** The body as JSON, or the 400 that says why it is not (not UTF-8, malformed, or nested too deep for the stack). */
function jsonBody(request: HttpRequest): { value: unknown } | HttpResponse {
	const text = jsonText(request.body, maxJsonDepth, request.utf8);
	if (typeof text !== "string") return errorResponse(400, text.error);
	// The bytes are let go before JSON.parse makes the values: a fixed arena has room for the text and its values, not for the bytes besides.
	request.body = new Uint8Array(0);
	const parsed = parseJson(text);
	return "error" in parsed ? errorResponse(400, parsed.error) : parsed;
}

/** One grammar with MQTT: the firmware's own parser; {"on": true|false} besides. */
function led(request: HttpRequest, api: DeviceApi): HttpResponse {
	const parsed = parseLedCommand(request.body);
	let command: LedCommand | undefined = "command" in parsed ? parsed.command : undefined;
	if (!command) {
		const body = jsonBody(request);
		if (!("value" in body)) return body;
		const on = (body.value as { on?: unknown } | null)?.on;
		if (typeof on === "boolean") command = on ? "on" : "off";
	}
	if (!command) return errorResponse(422, `${"error" in parsed ? parsed.error : "not a command"}: send what MQTT takes (on, off, toggle, 1, 0, true, false, {"state":"ON"}) or {"on": true|false}`);
	return jsonResponse(200, { led: api.setLed(command) ? "on" : "off" });
}

function settings(request: HttpRequest, api: DeviceApi): HttpResponse {
	const body = jsonBody(request);
	if (!("value" in body)) return body;
	const result = api.updateSettings(body.value);
	if (!result.ok) return jsonResponse(422, { error: "settings not saved", errors: result.errors });
	return jsonResponse(200, { saved: true, restarting: result.restarting ?? [] });
}

/** Names no public DNS can answer for: a rebinding site cannot own them. */
const localSuffixes = [".local", ".lan", ".home.arpa", ".internal", ".localhost"];

/**
 * Why a change is refused as possibly from another site (DNS rebinding),
 * or undefined. A rebinding page reaches the device under the site's own
 * name, which the browser puts in Host; it cannot forge Host. So Host must
 * be an IP literal, localhost, a single-label name or a name under a
 * suffix only the local network answers (the device's mDNS `<name>.local`).
 * An Origin, which browsers send with every POST, must be this Host (as
 * ESPHome's web_server checks it). Without Host (not a browser) there is
 * nothing to rebind.
 */
function foreignOrigin(host: string | undefined, origin: string | undefined): string | undefined {
	if (host === undefined) return undefined;
	const name = hostName(host.toLowerCase());
	const local = name !== undefined && (isIPv4(name) || name.startsWith("[") || name === "localhost" || !name.includes(".")
		|| localSuffixes.some((suffix) => name.endsWith(suffix)));
	if (!local) return `refused: Host ${JSON.stringify(host.slice(0, 64))} is not this device's address (an IP address, localhost or a .local name); a change from another site's name could be DNS rebinding`;
	if (origin !== undefined && origin.toLowerCase() !== `http://${host.toLowerCase()}`) {
		return `refused: Origin ${JSON.stringify(origin.slice(0, 64))} is not this device's page (http://${host.slice(0, 64)}); changes are taken from the device's own page only`;
	}
	return undefined;
}

/** Host without its port: a name, an IPv4 address or a bracketed IPv6 one; undefined when malformed. */
function hostName(host: string): string | undefined {
	const match = /^(\[[0-9a-f:.]+(?:%[0-9a-z]+)?\]|[a-z0-9.-]+?)\.?(?::\d{1,5})?$/.exec(host);
	return match ? match[1] : undefined;
}

/** HTTP Basic with any user name; compared in time that does not depend on where they differ. */
function authorized(header: string | undefined, password: string): boolean {
	const match = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header ?? "");
	if (!match) return false;
	const bytes = decodeBase64(match[1]!);
	const credentials = decodeUtf8(bytes, 0, bytes.length);
	if (credentials === undefined) return false;
	const given = credentials.slice(credentials.indexOf(":") + 1);
	let difference = given.length ^ password.length;
	for (let i = 0; i < password.length; i++) difference |= password.charCodeAt(i) ^ given.charCodeAt(i % Math.max(1, given.length));
	return difference === 0 && credentials.includes(":");
}
