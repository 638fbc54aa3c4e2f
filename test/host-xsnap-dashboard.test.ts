/*
 * The `npm start` live view, rendered without a terminal.
 */
import assert from "node:assert/strict";
import { fit, render, sparkline, type DashboardState } from "../tools/dashboard.js";

const state = (overrides: Partial<DashboardState> = {}): DashboardState => ({
	broker: "mqtt://127.0.0.1:1883", wifi: "connected", mqtt: "connected", led: "on",
	temperatures: [20, 21, 22], counters: [{ label: "readings", value: 3 }, { label: "reconnects", value: 0 }],
	logs: ["INFO  mqtt: connected"], ...overrides,
});

describe("npm start dashboard", function () {
	it("scales a sparkline between the series' minimum and maximum", function () {
		assert.equal(sparkline([0, 1, 2, 3, 4, 5, 6, 7], 8), "▁▂▃▄▅▆▇█");
		assert.equal(sparkline([10, 30], 8), "▁█");
		assert.equal(sparkline([5, 5, 5], 8), "▄▄▄", "a flat series sits mid-height");
		assert.equal(sparkline([], 8), "");
		assert.equal(sparkline([1, 2, 3, 4], 2), "▁█", "only the last values that fit");
	});

	it("shows the LED, the connection states and the counters", function () {
		const frame = render(state(), 100);
		assert.match(frame, /LED {4}◉ ON/);
		assert.match(frame, /Wi-Fi ● connected {3}MQTT ● connected/);
		assert.match(frame, /readings 3 {3}reconnects 0/);
		assert.match(frame, /temp {3}▁▅█ {2}22\.00 °C \(min 20\.00, max 22\.00\)/);
		assert.match(frame, /INFO {2}mqtt: connected$/);
		const waiting = render(state({ mqtt: "waiting", led: "off", temperatures: [] }), 100);
		assert.match(waiting, /MQTT ○ waiting/);
		assert.match(waiting, /LED {4}○ off/);
		assert.match(waiting, /temp {3}\(no reading yet\)/);
	});

	it("never draws a line wider than the terminal", function () {
		const logs = [`INFO  telemetry: published ${"x".repeat(200)}`];
		const counters = Array.from({ length: 12 }, (_, i) => ({ label: `counter${i}`, value: i }));
		for (const width of [20, 40, 80]) {
			for (const line of render(state({ logs, counters, temperatures: Array.from({ length: 300 }, (_, i) => Math.sin(i)) }), width).split("\n")) {
				assert.ok(Array.from(line).length <= width, `${Array.from(line).length} > ${width}: ${line}`);
			}
		}
		assert.equal(fit("abcdef", 4), "abc…");
		assert.equal(fit("°C°C", 4), "°C°C");
	});
});
