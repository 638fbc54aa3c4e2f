/*
 * Diagnostics: one retained JSON message on the diagnostics topic, at QoS 0,
 * on every connect and every interval, so a dashboard (or Home Assistant's
 * diagnostic entities) always shows how the device is:
 *
 *   {"uptime":3600,"version":"0.1.0","reset_reason":"Power-On","rssi":-61,"ip":"192.168.1.23",
 *    "heap":{"slots_used":9120,"chunks_used":20480,"free":123456},
 *    "wifi_reconnects":0,"mqtt_reconnects":1,"readings_dropped":0,"sensor_faults":2,"commands_rejected":1}
 *
 * The periodic timer runs from the latest connect. Fields the host cannot know (no RSSI in a simulator, no instrumentation in
 * a release build) are left out rather than sent as zero. Retained at QoS 0
 * as ESPHome and Tasmota do their state: the latest figure is all that
 * matters, and a lost one is replaced by the next.
 */
import type { HostDiagnostics, TimerHandle, Host } from "platform";

export interface DiagnosticsCounts {
	wifiReconnects: number;
	mqttReconnects: number;
	readingsDropped: number;
	sensorFaults: number;
	commandsRejected: number;
}

export interface DiagnosticsOptions {
	host: Pick<Host, "clock" | "timers" | "diagnostics">;
	version: string;
	/** ms between messages; 0: only on connect. */
	interval: number;
	/** Whether a message can go out now; the periodic one is skipped while offline (the next connect sends one). */
	online(): boolean;
	counts(): DiagnosticsCounts;
	publish(payload: string): void;
}

/** The message's JSON, fields in a fixed order, absent ones left out. */
export function diagnosticsPayload(uptimeMs: number, version: string, platform: HostDiagnostics, counts: DiagnosticsCounts): string {
	let json = `{"uptime":${Math.floor(uptimeMs / 1000)},"version":${JSON.stringify(version)}`;
	if (platform.resetReason !== undefined) json += `,"reset_reason":${JSON.stringify(platform.resetReason)}`;
	if (platform.rssi !== undefined) json += `,"rssi":${platform.rssi}`;
	if (platform.ip !== undefined) json += `,"ip":${JSON.stringify(platform.ip)}`;
	let heap = "";
	if (platform.slotsUsed !== undefined) heap += `,"slots_used":${platform.slotsUsed}`;
	if (platform.chunksUsed !== undefined) heap += `,"chunks_used":${platform.chunksUsed}`;
	if (platform.freeHeap !== undefined) heap += `,"free":${platform.freeHeap}`;
	if (heap) json += `,"heap":{${heap.slice(1)}}`;
	return `${json},"wifi_reconnects":${counts.wifiReconnects},"mqtt_reconnects":${counts.mqttReconnects},"readings_dropped":${counts.readingsDropped},"sensor_faults":${counts.sensorFaults},"commands_rejected":${counts.commandsRejected}}`;
}

export class Diagnostics {
	/** Messages handed to the client. */
	sent = 0;
	readonly #options: DiagnosticsOptions;
	/** Uptime counts from here: the host clock is ms since boot on a device but epoch ms on the desktop simulator. */
	readonly #started: number;
	#timer: TimerHandle | undefined;
	readonly #tick: () => void;

	constructor(options: DiagnosticsOptions) {
		this.#options = options;
		this.#started = options.host.clock.now();
		this.#tick = () => {
			this.#timer = undefined;
			if (this.#options.online()) this.send();
			else this.#arm();
		};
	}

	stop(): void {
		if (this.#timer !== undefined) this.#options.host.timers.clear(this.#timer);
		this.#timer = undefined;
	}

	/** One message now (on connect), and the next a whole interval later. */
	send(): void {
		const { host, version } = this.#options;
		this.sent++;
		this.#options.publish(diagnosticsPayload(host.clock.now() - this.#started, version, host.diagnostics?.() ?? {}, this.#options.counts()));
		this.stop();
		this.#arm();
	}

	#arm(): void {
		if (this.#options.interval > 0) this.#timer = this.#options.host.timers.set(this.#tick, this.#options.interval);
	}
}
