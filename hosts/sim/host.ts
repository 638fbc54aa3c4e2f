/*
 * The Moddable desktop simulator host (lin, mac, win): the host computer's
 * network through `embedded:io/socket/tcp`, Moddable's simulated Wi-Fi,
 * a simulated sensor with a daily curve plus noise, and an LED that is
 * logged (the simulators have no `embedded:io/digital`).
 */
import Timer from "timer";
import Time from "time";
import WiFi from "wifi";
import TextDecoder from "text/decoder";
import TextEncoder from "text/encoder";
import type { DigitalOutput, Host, LogLevel, SensorOptions, TemperatureSensor, TimerHandle, WifiEvent } from "platform";
import { formatLogLine } from "log";
import { openSocket } from "host/socket";
import { DailyTemperature } from "firmware/simulated-sensor";

function log(level: LogLevel, tag: string, message: string, fields?: Record<string, unknown>): void {
	trace(formatLogLine(level, tag, message, fields) + "\n");
}

let wifi: WiFi | undefined;

export const host: Host = {
	name: "simulator",
	utf8: new TextDecoder("utf-8", { ignoreBOM: true }),
	utf8Encoder: new TextEncoder(),
	clock: {
		now: () => Time.ticks,
		// The simulator runs on the computer's clock, which is already set.
		wallTime: () => Date.now(),
	},
	timers: {
		set: (callback: () => void, delay: number): TimerHandle => Timer.set(callback, delay),
		clear: (handle: TimerHandle | undefined): void => Timer.clear(handle as Timer | undefined),
	},
	log,
	wifi: {
		connect(ssid: string, password: string, onEvent: (event: WifiEvent) => void): void {
			wifi?.close();
			wifi = new WiFi(password ? { ssid, password } : { ssid }, (message) => {
				if (message === "connect" || message === "gotIP" || message === "lostIP" || message === "disconnect") onEvent(message);
			});
		},
		disconnect(): void {
			wifi?.close();
			wifi = undefined;
		},
	},
	openSocket,
	openSensor(_options: SensorOptions): TemperatureSensor {
		// Whatever sensor is configured, the simulator has only this one.
		const curve = new DailyTemperature(Time.ticks);
		return { sample: () => ({ temperature: curve.at(Date.now()) }) };
	},
	openLed(pin: number): DigitalOutput {
		return { write: (value: 0 | 1) => log("info", "board", `LED pin ${pin} ${value ? "high" : "low"}`) };
	},
};
