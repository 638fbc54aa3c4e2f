/*
 * XS metered cost of serving the web page's requests: a browser's request
 * head parsed, routed, answered and handed out in the socket's 1,536-byte
 * writes. The device behind the API is a stub, so only the web path counts.
 */
import { HttpConnection, errorResponse, type HttpRequest } from "web/http";
import { route, type DeviceApi } from "web/api";
import { Settings } from "web/settings";

const head = (method: string, path: string, extra = ""): string => `${method} ${path} HTTP/1.1\r\nHost: 192.168.1.40\r\nConnection: keep-alive\r\n`
	+ "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36\r\n"
	+ "Accept: */*\r\nAccept-Encoding: gzip, deflate\r\nAccept-Language: en-US\r\nReferer: http://192.168.1.40/\r\n" + extra + "\r\n";
const ascii = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));

const status = {
	name: "Room 1 sensor", version: "0.1.0", host: "esp32", uptime: 123456, heap: null, passwordSet: false,
	wifi: "connected", mqtt: "connected", led: "off", temperature: 21.53, readings: 1234, samples: 1234, sensorFailures: 0,
	ledCommands: 3, ledRejected: 0, outbox: 0, inflight: 0, connects: 1, reconnects: 0, sent: 1240, received: 5, dropped: 0,
	protocolErrors: 0, lastRoundTrip: 12, wifiDrops: 0,
};
const settings = new Settings({ ssid: "home", sensor: "simulated" }, { load: () => undefined, save: () => {}, clear: () => {} });
const api: DeviceApi = {
	status: () => status,
	setLed: (command) => command === "on",
	readings: () => ({ temperatures: [21.5, 21.53], recorded: 1234, interval: 10000, precision: 2 }),
	settings: () => settings.document(),
	updateSettings: (changes) => settings.update(changes),
	factoryReset: () => [],
	password: () => "",
	beginUpdate: () => errorResponse(501, "no updater in the bench"),
};

function serve(bytes: Uint8Array): () => void {
	return () => {
		const http = new HttpConnection(0);
		http.receive(bytes);
		const request = http.pollRequest() as HttpRequest;
		http.respond(route(request, api));
		while (http.pollTransmit(1536));
	};
}

const invalid = '{"sensor_interval":"5","mqtt_port":"99999"}';

export const benches: Record<string, () => () => void> = {
	"web: GET /api/status, browser head parsed to last byte out": () => serve(ascii(head("GET", "/api/status"))),
	"web: GET / (the page, decoded from flash and sent)": () => serve(ascii(head("GET", "/"))),
	"web: GET / without gzip (the uncompressed copy, from flash and sent)": () => serve(ascii(head("GET", "/").replace("Accept-Encoding: gzip, deflate\r\n", ""))),
	"web: GET /api/settings (every setting, made an entry at a time as it is sent)": () => serve(ascii(head("GET", "/api/settings"))),
	"web: POST /api/settings refused by field (validation by parseConfig)": () => serve(ascii(head("POST", "/api/settings", `Content-Type: application/json\r\nContent-Length: ${invalid.length}\r\n`) + invalid)),
};

/** Ceilings with room: a page every few minutes and a status poll every 2 s are a small share of a device's time. */
export const targets: Record<string, number> = {
	"web: GET /api/status, browser head parsed to last byte out": 100000,
	// The XS host simulator's engine lacks Uint8Array.fromBase64; Moddable's XS decodes natively. About 120 units a
	// byte of gzip: the page's 3.4 KB (chart scale, humidity, a seeded chart, Show/Hide, its icon) need more than 400,000.
	"web: GET / (the page, decoded from flash and sent)": 450000,
	"web: GET / without gzip (the uncompressed copy, from flash and sent)": 300000,
	// Each setting is made twice (its bytes counted, then sent), so the answer is never whole in RAM: about 430,000.
	"web: GET /api/settings (every setting, made an entry at a time as it is sent)": 500000,
	"web: POST /api/settings refused by field (validation by parseConfig)": 120000,
};
