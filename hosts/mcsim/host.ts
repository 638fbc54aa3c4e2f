/*
 * The Moddable desktop simulator host (lin, mac, win): the host computer's
 * network through `embedded:io/socket/tcp`, Moddable's simulated Wi-Fi,
 * a simulated sensor with a daily curve plus noise (sensor=simulated-faulty:
 * every third sample fails), and an LED that is logged (the simulators have
 * no `embedded:io/digital`). Diagnostics from `Net` and `instrumentation`.
 */
import Time from "time";
import WiFi from "wifi";
import TextDecoder from "text/decoder";
import TextEncoder from "text/encoder";
import Net from "net";
import TCP from "embedded:io/socket/tcp";
import type { DigitalOutput, Host, ListenOptions, Listener, ResolveOptions, SensorOptions, TemperatureSensor, WifiEvent } from "platform";
import { closeSocket, guard, openSocket } from "host/socket";
import { guardedTimers, log, reportAborts, runtimeDiagnostics, stationCallback } from "host/runtime";
import { resolveByDns, resolveBySystem } from "host/resolver";
import { seededRandom } from "backoff";
import { SimulatedSensor } from "simulated/sensor";
import { listen } from "host/listener";
import { preferenceStorage } from "host/settings";
import config from "mc/config";

/**
 * The desktop simulator has no MAC (Moddable's lin Net.get knows only "IP"):
 * a locally administered one from the computer's address and the moment
 * this instance started, so two simulators on one broker differ. New on
 * every run; set mqtt_client_id to keep one identity.
 */
function instanceMac(): string {
	let hash = 0x811c9dc5;
	const seed = `${Net.get("IP") ?? ""}/${Date.now()}`;
	for (let i = 0; i < seed.length; i++) hash = Math.imul(hash ^ seed.charCodeAt(i), 0x01000193) >>> 0;
	const hex = (shift: number): string => ((hash >>> shift) & 0xff).toString(16).padStart(2, "0");
	return `02:00:00:${hex(16)}:${hex(8)}:${hex(0)}`;
}
/**
 * Listens once nothing else does on the port. Moddable's lin listener
 * (modules/io/socket/lin/tcp.c) registers its record with the garbage
 * collector (xsRemember) before it binds, and when the bind fails frees the
 * record without xsForget: the next collection walks freed memory and the
 * simulator segfaults. So a port that answers a connection on loopback is
 * never handed to it: the web page is off, said as an error, and the
 * simulator runs on. (A port a normal user may not bind, below 1024, or one
 * whose holder closes each connection at once, looks free to the probe:
 * the desktop default is 8080.)
 */
function listenWhenFree(options: ListenOptions): Listener {
	let listener: Listener | undefined;
	let closed = false;
	let probe: TCP | undefined;
	const end = (free: boolean): void => {
		if (!probe) return;
		// Called from the probe's own callbacks.
		closeSocket(probe);
		probe = undefined;
		if (closed) return;
		if (!free) {
			log("error", "http", `cannot serve the web page: port ${options.port} is in use by another program; the simulator runs on without it (set another http_port)`, { port: options.port });
			return;
		}
		try {
			listener = listen(options);
		} catch (error) {
			// The SDK's failed bind leaves freed memory to the collector: say why the simulator may crash next.
			log("error", "http", `cannot serve the web page on port ${options.port}: ${(error as Error).message}; Moddable's lin listener may crash the simulator after a failed bind (set another http_port)`, { port: options.port });
		}
	};
	if (options.port === 0) listener = listen(options);
	else {
		probe = new TCP({
			address: "127.0.0.1", port: options.port,
			onWritable: guard("http port probe", () => end(false)),
			onError: guard("http port probe", () => end(true)),
		});
	}
	return {
		get port(): number {
			return listener?.port ?? options.port;
		},
		close(): void {
			closed = true;
			listener?.close();
			end(false);
		},
	};
}

/**
 * Made by main at start-up, not in this module's body: the module is
 * preloaded (built into the image), where native constructors cannot run
 * and module-level state would be frozen.
 */
export function createHost(): Host {
	reportAborts();
	let wifi: WiFi | undefined;
	let mac: string | undefined;
	return {
		name: "simulator",
		utf8: new TextDecoder("utf-8", { ignoreBOM: true }),
		utf8Encoder: new TextEncoder(),
		// XS on the desktop never seeds Math.random (xsMath.c leaves c_srand commented out): every run would jitter alike.
		// The clock's low 32 bits differ from run to run (Time.ticks is the same epoch clock here, so it adds nothing).
		random: seededRandom(Date.now() % 4294967296),
		diagnostics: runtimeDiagnostics,
		clock: {
			now: () => Time.ticks,
			// The simulator runs on the computer's clock, which is already set.
			wallTime: () => Date.now(),
		},
		timers: guardedTimers(),
		log,
		wifi: {
			connect(ssid: string, password: string, onEvent: (event: WifiEvent) => void): void {
				wifi?.close();
				wifi = new WiFi(password ? { ssid, password } : { ssid }, stationCallback(onEvent));
			},
			disconnect(): void {
				wifi?.close();
				wifi = undefined;
			},
			mac: (): string => (mac ??= instanceMac()),
		},
		// Empty dns_servers: the computer's own resolver, since Moddable cannot tell the simulator its DNS servers.
		resolve: (options: ResolveOptions) => (options.servers.length ? resolveByDns(options, options.servers) : resolveBySystem(options)),
		openSocket,
		listen: listenWhenFree,
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
