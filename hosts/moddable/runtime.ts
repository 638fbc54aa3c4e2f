/*
 * What both Moddable SDK hosts (the ESP32 and the desktop simulator) take
 * from the runtime alike: the log through `trace`, timers whose callbacks
 * go through the guard, Wi-Fi's station messages as the Host's events, and
 * the diagnostics `Net` and `instrumentation` give on both. Each host adds
 * what only it has (the ESP32: RSSI, free memory, the reset reason).
 */
import Timer from "timer";
import Net from "net";
import Instrumentation from "instrumentation";
import type { Host, HostDiagnostics, LogLevel, TimerHandle, WifiEvent } from "platform";
import { formatLogLine } from "log";
import { guard, guardNoArguments } from "host/socket";

export function log(level: LogLevel, tag: string, message: string, fields?: Record<string, unknown>): void {
	trace(formatLogLine(level, tag, message, fields) + "\n");
}

/** Moddable's Timer, each callback guarded: a throw is logged, never an XS abort. Made per host, at run time. */
export function guardedTimers(): Host["timers"] {
	return {
		set: (callback: () => void, delay: number): TimerHandle => Timer.set(guardNoArguments("timer callback", callback), delay),
		repeat: (callback: () => void, interval: number): TimerHandle => Timer.repeat(guardNoArguments("timer callback", callback), interval),
		clear: (handle: TimerHandle | undefined): void => Timer.clear(handle as Timer | undefined),
	};
}

/**
 * Says why XS aborts before it does: with the manifest's `xs.abortHook`
 * define, XS calls the global `abort(why, exception)` first
 * (build/simulators/modules/screen.c, xs/platforms/esp/xsPlatform.c), and
 * mcsim's own line says only "XS abort: unhandled exception". Returns
 * nothing, so the abort goes on as without the hook: the hook explains a
 * reset, never prevents one.
 */
export function reportAborts(): void {
	(globalThis as { abort?: (why: string, exception: unknown) => void }).abort = (why: string, exception: unknown): void => {
		const error = exception as { name?: unknown; message?: unknown; stack?: unknown } | undefined;
		const reason = error && typeof error === "object" ? `${String(error.name)}: ${String(error.message)}${typeof error.stack === "string" ? `\n${error.stack}` : ""}` : String(exception);
		log("error", "xs", `abort: ${why}: ${reason}`);
	};
}

/** The `wifi` module's callback for a station: its four connection messages become the Host's events, the rest are dropped. */
export function stationCallback(onEvent: (event: WifiEvent) => void): (message: string) => void {
	return guard("Wi-Fi callback", (message: string) => {
		if (message === "connect" || message === "gotIP" || message === "lostIP" || message === "disconnect") onEvent(message);
	});
}

/** An instrumentation counter by its name, or undefined where the build has none (release builds). */
export function instrument(name: Parameters<typeof Instrumentation.map>[0]): number | undefined {
	const index = Instrumentation.map(name);
	const value = index === undefined ? undefined : Instrumentation.get(index);
	return typeof value === "number" ? value : undefined;
}

/** The address and the XS heaps, where the build counts them. */
export function runtimeDiagnostics(): HostDiagnostics {
	const result: HostDiagnostics = {};
	const ip = Net.get("IP");
	if (ip) result.ip = ip;
	const slots = instrument("XS Slot Heap Used");
	const chunks = instrument("XS Chunk Heap Used");
	if (slots !== undefined) result.slotsUsed = slots;
	if (chunks !== undefined) result.chunksUsed = chunks;
	return result;
}
