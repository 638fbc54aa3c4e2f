/*
 * The composition root, which main calls: stored settings laid over the
 * build's configuration, the firmware, and its web page, wired together.
 * The web page is handed the device as a DeviceApi (web/api): it neither
 * starts nor holds the firmware. Applying settings (or a factory reset)
 * restarts only the parts of the firmware whose settings changed (Wi-Fi,
 * MQTT, telemetry; see firmware/app changedParts), never the device: the
 * web server, the LED's state, the readings' seq and the readings waiting
 * to be sent stay as they are (a device pin cannot be opened twice: the
 * firmware opens its LED once and reuses its sensor; firmware/app).
 */
import type { FirmwareHandle, Host } from "platform";
import type { FirmwareConfig } from "config";
import { changedParts, firmwareVersion, startFirmware, type Firmware, type FirmwarePart } from "firmware/app";
import type { LedCommand } from "firmware/led";
import { isStreamed, openUpload, route, type DeviceApi } from "web/api";
import { FirmwareUpdates } from "web/update";
import { HttpServer, type BodySink, type HttpServerOptions } from "web/server";
import type { HttpRequest, HttpResponse } from "web/http";
import { Settings, type UpdateResult } from "web/settings";

export interface Device {
	readonly firmware: FirmwareHandle;
	readonly settings: Settings;
	/** The port the page is served on, once listening. */
	readonly httpPort: number | undefined;
	shutdown(): void;
}

/** Starts everything; throws ConfigError when the build's configuration is invalid. */
export function startDevice(host: Host, build: Readonly<Record<string, unknown>>): Device {
	return new DeviceRuntime(host, build);
}

/*
 * As firmware/app: the device lives as long as the board runs, so its logic
 * is methods (in flash once preloaded), not closures made at start-up, and
 * the page gets a small link object rather than a literal of closures.
 */
class DeviceRuntime implements Device, FirmwareHandle {
	readonly host: Host;
	readonly settings: Settings;
	readonly firmware: Firmware;
	readonly updates: FirmwareUpdates;
	readonly started: number;
	readonly api: DeviceApi;
	server: HttpServer | undefined;
	restartTimer: object | undefined;
	/** The settings now in effect. */
	config: FirmwareConfig;
	/** The configuration the firmware runs, or will once a pending apply runs: what a new change is compared with. */
	applied: FirmwareConfig;

	constructor(host: Host, build: Readonly<Record<string, unknown>>) {
		this.host = host;
		this.started = host.clock.now();
		const settings = this.settings = new Settings(build, host.settings);
		if (settings.problem) host.log("error", "settings", settings.problem);
		const config = this.config = this.applied = settings.config();
		// The firmware restarts its parts without shutting the host down: the device attaches to the host, and exits it.
		this.firmware = startFirmware(host, config, { partOfDevice: true });
		this.updates = new FirmwareUpdates(host);
		const api = this.api = new DeviceApiLink(this);
		if (config.http.enabled) {
			if (!host.listen) host.log("warn", "http", `${host.name} cannot listen: no web page`);
			else {
				try {
					const server = this.server = new HttpServer(new PageLink(host, config.http.port, api));
					host.log("info", "http", `web page at http://<device>:${server.port}/`, { port: server.port, password: config.http.password ? "set" : "none" });
				} catch (error) {
					host.log("error", "http", `cannot serve the web page on port ${config.http.port}: ${(error as Error).message}`);
				}
			}
		}
		host.attach?.(this);
	}

	get httpPort(): number | undefined {
		return this.server?.port;
	}

	/** Applies the settings now in effect; returns what this change restarts (nothing for no change). */
	apply(why: string): FirmwarePart[] {
		const config = this.config = this.settings.config();
		const parts = changedParts(this.applied, config);
		this.applied = config;
		// Deferred: the response goes out first, and nothing restarts inside its own dispatch.
		// The firmware compares with what it runs, so changes saved in quick succession all apply.
		const timers = this.host.timers;
		timers.clear(this.restartTimer);
		this.restartTimer = timers.set(() => {
			this.restartTimer = undefined;
			const restarted = this.firmware.reconfigure(this.config);
			this.host.log("info", "settings", restarted.length ? `${why}: restarting ${restarted.join(", ")}` : `${why}: nothing to restart`);
		}, 50);
		return parts;
	}

	status(): Record<string, unknown> {
		return this.api.status();
	}

	setLed(on: boolean): void {
		this.firmware.setLed(on);
	}

	shutdown(): void {
		this.host.timers.clear(this.restartTimer);
		this.server?.close();
		this.server = undefined;
		this.firmware.shutdown();
		this.host.exit?.();
	}
}

/** The device as the web page sees it (web/api). */
class DeviceApiLink implements DeviceApi {
	readonly #device: DeviceRuntime;
	constructor(device: DeviceRuntime) {
		this.#device = device;
	}
	status(): Record<string, unknown> {
		const { host, config, server, updates, firmware } = this.#device;
		return {
			name: config.homeAssistant.deviceName,
			version: firmwareVersion,
			host: host.name,
			// A simulator's tick count starts at the computer's epoch, not at boot.
			uptime: host.clock.now() - this.#device.started,
			...hostFacts(host),
			passwordSet: config.http.password !== "",
			http: server ? { ...server.stats, connections: server.connections } : null,
			update: updates.available ? updates.status : null,
			...firmware.status(),
		};
	}
	setLed(command: LedCommand): boolean {
		return this.#device.firmware.ledCommand(command);
	}
	readings(): Record<string, unknown> {
		const { firmware, config } = this.#device;
		return { temperatures: firmware.recentReadings(), recorded: firmware.status().recorded, interval: config.sensor.interval, precision: config.sensor.precision };
	}
	settings(): ReturnType<DeviceApi["settings"]> {
		return this.#device.settings.document();
	}
	updateSettings(changes: unknown): UpdateResult {
		const result = this.#device.settings.update(changes);
		return result.ok ? { ok: true, restarting: this.#device.apply("settings saved") } : result;
	}
	factoryReset(): readonly string[] {
		this.#device.settings.reset();
		return this.#device.apply("factory reset");
	}
	password(): string {
		return this.#device.config.http.password;
	}
	beginUpdate(request: HttpRequest): BodySink | HttpResponse {
		return this.#device.updates.begin(request);
	}
}

/** The web server's options: the page's routes, and the one streamed route (a firmware image). */
class PageLink implements HttpServerOptions {
	readonly host: Host;
	readonly port: number;
	readonly #api: DeviceApi;
	constructor(host: Host, port: number, api: DeviceApi) {
		this.host = host;
		this.port = port;
		this.#api = api;
	}
	handle(request: HttpRequest): HttpResponse {
		return route(request, this.#api);
	}
	get streams(): this {
		return this;
	}
	accepts(method: string, path: string): boolean {
		return isStreamed(method, path);
	}
	open(request: HttpRequest): BodySink | HttpResponse {
		return openUpload(request, this.#api);
	}
}

/** What the host knows of itself, for the page's diagnostics: null where it cannot tell. */
function hostFacts(host: Host): Record<string, unknown> {
	const facts = host.diagnostics?.() ?? {};
	return {
		heapFree: facts.freeHeap ?? null,
		xsHeapUsed: facts.slotsUsed !== undefined || facts.chunksUsed !== undefined ? (facts.slotsUsed ?? 0) + (facts.chunksUsed ?? 0) : null,
		rssi: facts.rssi ?? null,
		ip: facts.ip ?? null,
		resetReason: facts.resetReason ?? null,
	};
}
