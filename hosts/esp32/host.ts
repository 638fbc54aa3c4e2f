/*
 * The ESP32 host: the Host contract (modules/platform.ts) over Moddable's
 * own APIs. Wi-Fi through the `wifi` module (our manager owns reconnection:
 * setup-network.ts replaces Moddable's setup/network, which connects before
 * main and gives up on it if Wi-Fi never comes), TCP through
 * `embedded:io/socket/tcp`, the LED through `embedded:io/digital`, and the
 * sensor through Moddable's drivers, each given its I/O class. Diagnostics
 * from `resetReason` (build/devices/esp32/modules/resetReason), `Net` and
 * `instrumentation` (whose values exist only in instrumented builds). The
 * device's name, `<identity>.local`, through Moddable's `mdns`.
 */
import Digital from "embedded:io/digital";
import I2C from "embedded:io/i2c";
import Analog from "embedded:io/analog";
import TMP102 from "embedded:sensor/Temperature/TMP102";
import SHT3x from "embedded:sensor/Humidity-Temperature/SHT3x";
import OneWire from "onewire";
import DS18X20 from "DS18X20";
import Time from "time";
import WiFi from "wifi";
import SNTP from "sntp";
import Net from "net";
import MDNS from "mdns";
import getResetReason from "resetReason";
import TextDecoder from "text/decoder";
import TextEncoder from "text/encoder";
import type { DigitalOutput, FirmwareHandle, Host, HostDiagnostics, ResolveOptions, SensorOptions, TemperatureSensor, WifiEvent } from "platform";
import { guard, openSocket } from "host/socket";
import { guardedTimers, instrument, log, runtimeDiagnostics, stationCallback } from "host/runtime";
import { listen } from "host/listener";
import { preferenceStorage } from "host/settings";
import { networkServers, resolveByDns } from "host/resolver";
import { sha256, updater } from "host/updater";

/** Before SNTP has run the clock starts in 1970; anything before 2020 is not wall time. */
const wallTimeKnownAfter = 1577836800000;

/** NTC thermistor on an ADC pin: 10 kΩ at 25 °C, B = 3950, against a 10 kΩ pull-up. */
function ntcSensor(pin: number): TemperatureSensor {
	const adc = new Analog({ pin });
	const full = (1 << adc.resolution) - 1;
	return {
		sample(): { temperature: number } {
			const raw = adc.read();
			if (raw <= 0 || raw >= full) throw new Error(`NTC reading ${raw} is at a rail: open or shorted thermistor`);
			const resistance = 10000 * raw / (full - raw);
			const kelvin = 1 / (1 / 298.15 + Math.log(resistance / 10000) / 3950);
			return { temperature: kelvin - 273.15 };
		},
	};
}

/** modules/network/mdns/mdns.js: the callback's message once probing claimed a name (the typings leave the constants out). */
const mdnsClaimed = 1;

/**
 * `<hostName>.local` and an `_http._tcp` service for the page. MDNS probes
 * the name first and, if another device holds it, takes `<name>-2` and so
 * on; the claimed name is logged. A new responder per Wi-Fi connect: it
 * answers with the address it had when it started. Returns the responder,
 * which the caller closes before the next.
 */
function advertise(previous: MDNS | undefined, hostName: string, httpPort: number | undefined): MDNS {
	(previous as unknown as { close(): void } | undefined)?.close();
	const responder = new MDNS({ hostName }, guard("mDNS callback", (message: number, value?: string) => {
		if (message !== mdnsClaimed || !value) return;
		log("info", "mdns", `this device is ${value}.local${httpPort !== undefined ? `; its page http://${value}.local${httpPort === 80 ? "" : `:${httpPort}`}/` : ""}`);
		if (httpPort !== undefined) responder.add({ name: "http", protocol: "tcp", port: httpPort, txt: { path: "/" } });
	}));
	return responder;
}

function diagnostics(resetReason: string): HostDiagnostics {
	const result: HostDiagnostics = { resetReason, ...runtimeDiagnostics() };
	const rssi = Net.get("RSSI");
	if (typeof rssi === "number" && rssi < 0) result.rssi = rssi;
	const free = instrument("System Free Memory");
	if (free !== undefined) result.freeHeap = free;
	return result;
}

/**
 * Made by main at start-up, not in this module's body: the module is
 * preloaded (built into flash), where native functions cannot run and
 * module-level state would cost RAM.
 */
export function createHost(): Host {
	let wifi: WiFi | undefined;
	/** The setup access point is up: the radio runs station and AP together, and joining must not end it. */
	let accessPointOpen = false;
	let sntpStarted = false;
	let mdns: MDNS | undefined;
	/** Read once: the reason does not change while running. */
	const resetReason = getResetReason().string;
	const host: Host = {
		name: "esp32",
		utf8: new TextDecoder("utf-8", { ignoreBOM: true }),
		utf8Encoder: new TextEncoder(),
		clock: {
			now: () => Time.ticks,
			wallTime: () => {
				const now = Date.now();
				return now > wallTimeKnownAfter ? now : undefined;
			},
		},
		timers: guardedTimers(),
		log,
		wifi: {
			connect(ssid: string, password: string, onEvent: (event: WifiEvent) => void): void {
				wifi?.close();
				if (!accessPointOpen) WiFi.mode = WiFi.Mode.station;
				wifi = new WiFi(password ? { ssid, password } : { ssid }, stationCallback(onEvent));
			},
			disconnect(): void {
				wifi?.close();
				wifi = undefined;
				WiFi.disconnect();
			},
			openAccessPoint(ssid: string): void {
				// modules/network/wifi/esp32: `station: true` selects WIFI_MODE_APSTA; open (no password), channel 1, 4 clients, at 192.168.4.1.
				WiFi.accessPoint({ ssid, station: true } as Parameters<typeof WiFi.accessPoint>[0]);
				accessPointOpen = true;
			},
			closeAccessPoint(): void {
				// Back to WIFI_MODE_STA: the access point stops, the station's connection stays.
				accessPointOpen = false;
				WiFi.mode = WiFi.Mode.station;
			},
			mac: (): string | undefined => Net.get("MAC") as string | undefined,
		},
		// Empty dns_servers: the servers DHCP gave, asked when the look-up starts (a new lease may change them).
		resolve: (options: ResolveOptions) => resolveByDns(options, options.servers.length ? options.servers : networkServers()),
		diagnostics: () => diagnostics(resetReason),
		advertise(hostName: string, httpPort: number | undefined): void {
			try {
				mdns = advertise(mdns, hostName, httpPort);
			} catch (error) {
				log("error", "mdns", `cannot announce ${hostName}.local: ${(error as Error).message}`);
			}
		},
		syncClock(server: string): void {
			// Wall time for readings; until it arrives they carry uptime. A failure is retried on the next connect.
			if (sntpStarted || host.clock.wallTime() !== undefined) return;
			sntpStarted = true;
			new SNTP({ host: server }, guard("SNTP callback", (result: number, seconds?: number) => {
				if (result === SNTP.time && seconds !== undefined) Time.set(seconds);
				else if (result === SNTP.error) sntpStarted = false;
			}));
		},
		openSocket,
		listen,
		settings: preferenceStorage("room1"),
		updater,
		sha256,
		openSensor(options: SensorOptions): TemperatureSensor {
			switch (options.kind) {
				case "tmp102":
					return new TMP102({ sensor: { io: I2C, data: options.sda, clock: options.scl, address: options.address } });
				case "sht3x": {
					const sht = new SHT3x({ sensor: { io: I2C, data: options.sda, clock: options.scl, address: options.address } });
					return {
						sample: () => {
							const { thermometer, hygrometer } = sht.sample();
							return { temperature: thermometer.temperature, humidity: hygrometer.humidity };
						},
					};
				}
				case "ds18b20": {
					const probe = new DS18X20({ bus: new OneWire({ pin: options.pin }) });
					return {
						sample(): { temperature: number } {
							if (!probe.present) throw new Error("DS18B20 did not answer on the 1-Wire bus");
							return { temperature: probe.temperature };
						},
					};
				}
				case "ntc":
					return ntcSensor(options.pin);
				case "simulated":
				case "simulated-faulty":
					throw new Error(`sensor=${options.kind} is for the simulators; choose tmp102, sht3x, ds18b20 or ntc on a device`);
			}
		},
		openLed(pin: number): DigitalOutput {
			const output = new Digital({ pin, mode: Digital.Output });
			return { write: (value: 0 | 1) => output.write(value) };
		},
		attach(_firmware: FirmwareHandle): void {
			// A device runs until power-off; nothing asks it to shut down.
		},
	};
	return host;
}
