/*
 * The Moddable desktop simulator host (lin, mac, win): the host computer's
 * network through `embedded:io/socket/tcp`, Moddable's simulated Wi-Fi,
 * a simulated sensor with a daily curve plus noise (sensor=simulated-faulty:
 * every third sample fails), and an LED that is logged (the simulators have
 * no `embedded:io/digital`). Diagnostics from `Net` and `instrumentation`.
 */
import Timer from "timer";
import Time from "time";
import WiFi from "wifi";
import TextDecoder from "text/decoder";
import TextEncoder from "text/encoder";
import Net from "net";
import Instrumentation from "instrumentation";
import type { DigitalOutput, Host, HostDiagnostics, LogLevel, ResolveOptions, SensorOptions, TemperatureSensor, TimerHandle, WifiEvent } from "platform";
import { formatLogLine } from "log";
import { guard, openSocket } from "host/socket";
import { resolveByDns, resolveBySystem } from "host/resolver";
import { seededRandom } from "backoff";
import { SimulatedSensor } from "firmware/simulated-sensor";
import { listen } from "host/listener";
import { preferenceStorage } from "host/settings";
import config from "mc/config";

function log(level: LogLevel, tag: string, message: string, fields?: Record<string, unknown>): void {
	trace(formatLogLine(level, tag, message, fields) + "\n");
}

/** An instrumentation counter by its name, or undefined where the build has none. */
function instrument(name: Parameters<typeof Instrumentation.map>[0]): number | undefined {
	const index = Instrumentation.map(name);
	const value = index === undefined ? undefined : Instrumentation.get(index);
	return typeof value === "number" ? value : undefined;
}

/**
 * Made by main at start-up, not in this module's body: the module is
 * preloaded (built into the image), where native constructors cannot run
 * and module-level state would be frozen.
 */
export function createHost(): Host {
	let wifi: WiFi | undefined;
	return {
		name: "simulator",
		utf8: new TextDecoder("utf-8", { ignoreBOM: true }),
		utf8Encoder: new TextEncoder(),
		// XS on the desktop never seeds Math.random (xsMath.c leaves c_srand commented out): every run would jitter alike.
		// The clock's low 32 bits differ from run to run (Time.ticks is the same epoch clock here, so it adds nothing).
		random: seededRandom(Date.now() % 4294967296),
		diagnostics(): HostDiagnostics {
			const result: HostDiagnostics = {};
			const ip = Net.get("IP");
			if (ip) result.ip = ip;
			const slots = instrument("XS Slot Heap Used");
			const chunks = instrument("XS Chunk Heap Used");
			if (slots !== undefined) result.slotsUsed = slots;
			if (chunks !== undefined) result.chunksUsed = chunks;
			return result;
		},
		clock: {
			now: () => Time.ticks,
			// The simulator runs on the computer's clock, which is already set.
			wallTime: () => Date.now(),
		},
		timers: {
			set: (callback: () => void, delay: number): TimerHandle => Timer.set(guard("timer callback", callback), delay),
			repeat: (callback: () => void, interval: number): TimerHandle => Timer.repeat(guard("timer callback", callback), interval),
			clear: (handle: TimerHandle | undefined): void => Timer.clear(handle as Timer | undefined),
		},
		log,
		wifi: {
			connect(ssid: string, password: string, onEvent: (event: WifiEvent) => void): void {
				wifi?.close();
				wifi = new WiFi(password ? { ssid, password } : { ssid }, guard("Wi-Fi callback", (message: string) => {
					if (message === "connect" || message === "gotIP" || message === "lostIP" || message === "disconnect") onEvent(message);
				}));
			},
			disconnect(): void {
				wifi?.close();
				wifi = undefined;
			},
		},
		// Empty dns_servers: the computer's own resolver, since Moddable cannot tell the simulator its DNS servers.
		resolve: (options: ResolveOptions) => (options.servers.length ? resolveByDns(options, options.servers) : resolveBySystem(options)),
		openSocket,
		listen,
		// One preferences file serves every simulator on the computer: a domain per device identity.
		settings: preferenceStorage(`room1-${String((config as Record<string, unknown>).mqtt_client_id ?? "")}`),
		openSensor(options: SensorOptions): TemperatureSensor {
			const faulty = options.kind === "simulated-faulty";
			if (!faulty && options.kind !== "simulated") log("warn", "board", `sensor=${options.kind}: the simulator has no ${options.kind}; simulating one (sensor=simulated says so, sensor=simulated-faulty adds faults)`);
			return new SimulatedSensor({ seed: Time.ticks, faulty, time: () => Date.now() });
		},
		openLed(pin: number): DigitalOutput {
			return { write: (value: 0 | 1) => log("info", "board", `LED pin ${pin} ${value ? "high" : "low"}`) };
		},
	};
}
