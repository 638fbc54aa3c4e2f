/*
 * The composition root, which main calls: stored settings laid over the
 * build's configuration, the firmware, and its web page, wired together.
 * The web page is handed the device as a DeviceApi (web/api): it neither
 * starts nor holds the firmware. Applying settings (or a factory reset)
 * restarts only the parts of the firmware whose settings changed (Wi-Fi,
 * MQTT, telemetry; see firmware/app changedParts), never the device: the
 * web server, the LED's state, the readings' seq and the readings waiting
 * to be sent stay as they are (a device pin cannot be opened twice, so the
 * host's LED and sensor are opened once and reused).
 */
import type { FirmwareHandle, Host, SensorOptions } from "platform";
import { changedParts, firmwareVersion, startFirmware, type FirmwarePart } from "firmware/app";
import { isStreamed, openUpload, route, type DeviceApi } from "web/api";
import { FirmwareUpdates } from "web/update";
import { HttpServer } from "web/server";
import { Settings } from "web/settings";

export interface Device {
	readonly firmware: FirmwareHandle;
	readonly settings: Settings;
	/** The port the page is served on, once listening. */
	readonly httpPort: number | undefined;
	shutdown(): void;
}

/** Starts everything; throws ConfigError when the build's configuration is invalid. */
export function startDevice(host: Host, build: Readonly<Record<string, unknown>>): Device {
	const started = host.clock.now();
	const settings = new Settings(build, host.settings);
	if (settings.problem) host.log("error", "settings", settings.problem);
	let config = settings.config();
	const opened: Record<string, unknown> = {};
	const once = <T>(key: string, open: () => T): T => (opened[key] ??= open()) as T;
	// The firmware's own view of the host: it restarts without shutting the host down.
	const core = hostView(host, {
		openLed: (pin: number) => once(`led ${pin}`, () => host.openLed(pin)),
		openSensor: (options: SensorOptions) => once(`sensor ${JSON.stringify(options)}`, () => host.openSensor(options)),
		attach: undefined,
		exit: undefined,
	});
	const firmware = startFirmware(core, config);
	const updates = new FirmwareUpdates(host);
	let server: HttpServer | undefined;
	let restartTimer: object | undefined;

	/** The configuration the firmware runs, or will once a pending apply runs: what a new change is compared with. */
	let applied = config;
	/** Applies the settings now in effect; returns what this change restarts (nothing for no change). */
	const apply = (why: string): FirmwarePart[] => {
		config = settings.config();
		const parts = changedParts(applied, config);
		applied = config;
		// Deferred: the response goes out first, and nothing restarts inside its own dispatch.
		// The firmware compares with what it runs, so changes saved in quick succession all apply.
		host.timers.clear(restartTimer);
		restartTimer = host.timers.set(() => {
			restartTimer = undefined;
			const restarted = firmware.reconfigure(config);
			host.log("info", "settings", restarted.length ? `${why}: restarting ${restarted.join(", ")}` : `${why}: nothing to restart`);
		}, 50);
		return parts;
	};

	const api: DeviceApi = {
		status: () => ({
			name: config.homeAssistant.deviceName,
			version: firmwareVersion,
			host: host.name,
			// A simulator's tick count starts at the computer's epoch, not at boot.
			uptime: host.clock.now() - started,
			...hostFacts(host),
			passwordSet: config.http.password !== "",
			http: server ? { ...server.stats, connections: server.connections } : null,
			update: updates.available ? updates.status : null,
			...firmware.status(),
		}),
		setLed: (command) => firmware.ledCommand?.(command) ?? false,
		readings: () => ({ temperatures: firmware.recentReadings?.() ?? [], recorded: firmware.status().recorded, interval: config.sensor.interval, precision: config.sensor.precision }),
		settings: () => ({ persistent: settings.persistent, problem: settings.problem, values: settings.describe() }),
		updateSettings(changes) {
			const result = settings.update(changes);
			return result.ok ? { ok: true, restarting: apply("settings saved") } : result;
		},
		factoryReset() {
			settings.reset();
			return apply("factory reset");
		},
		password: () => config.http.password,
		beginUpdate: (request) => updates.begin(request),
	};

	if (config.http.enabled) {
		if (!host.listen) host.log("warn", "http", `${host.name} cannot listen: no web page`);
		else {
			try {
				server = new HttpServer({
					host,
					port: config.http.port,
					handle: (request) => route(request, api),
					streams: { accepts: isStreamed, open: (request) => openUpload(request, api) },
				});
				host.log("info", "http", `web page at http://<device>:${server.port}/`, { port: server.port, password: config.http.password ? "set" : "none" });
			} catch (error) {
				host.log("error", "http", `cannot serve the web page on port ${config.http.port}: ${(error as Error).message}`);
			}
		}
	}

	const device: Device = {
		get firmware() {
			return firmware;
		},
		settings,
		get httpPort() {
			return server?.port;
		},
		shutdown() {
			host.timers.clear(restartTimer);
			server?.close();
			server = undefined;
			firmware.shutdown();
			host.exit?.();
		},
	};
	host.attach?.({ shutdown: () => device.shutdown(), status: () => api.status(), setLed: (on) => firmware.setLed?.(on) });
	return device;
}

/**
 * The host with some members replaced. Every member, own or inherited (a
 * host may be a class), is copied with its methods bound, so members added
 * to Host later pass through untouched.
 */
function hostView(host: Host, overrides: Partial<Record<keyof Host, unknown>>): Host {
	const view: Record<string, unknown> = {};
	for (let source: object | null = host; source && source !== Object.prototype; source = Object.getPrototypeOf(source) as object | null) {
		for (const key of Object.getOwnPropertyNames(source)) {
			if (key === "constructor" || key in view) continue;
			const value = (host as unknown as Record<string, unknown>)[key];
			view[key] = typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(host) : value;
		}
	}
	return Object.assign(view, overrides) as unknown as Host;
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
