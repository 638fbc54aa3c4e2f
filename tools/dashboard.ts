/*
 * The `npm start` live view: what the simulated device is doing, redrawn in
 * place on a terminal. `render` is a pure function of the state and the
 * terminal width, so it is tested without a terminal.
 */

export interface DashboardState {
	broker: string;
	wifi: string;
	mqtt: string;
	led: "on" | "off" | "unknown";
	/** Recent readings, oldest first. */
	temperatures: number[];
	counters: { label: string; value: number | string | null }[];
	/** Recent log lines, oldest first. */
	logs: string[];
}

const bars = "▁▂▃▄▅▆▇█";

/** The last `width` values as bars scaled between their minimum and maximum. */
export function sparkline(values: readonly number[], width: number): string {
	const shown = values.slice(Math.max(0, values.length - width));
	if (!shown.length) return "";
	const min = Math.min(...shown), max = Math.max(...shown);
	// A flat series sits in the middle rather than on the floor.
	if (max === min) return bars[3]!.repeat(shown.length);
	return shown.map((value) => bars[Math.min(bars.length - 1, Math.floor(((value - min) / (max - min)) * bars.length))]!).join("");
}

/** Cuts a line to `width` characters (code points), marking the cut. */
export function fit(line: string, width: number): string {
	const characters = Array.from(line);
	if (characters.length <= width) return line;
	return characters.slice(0, Math.max(0, width - 1)).join("") + "…";
}

function connection(state: string): string {
	return state === "connected" ? "● connected" : `○ ${state}`;
}

export function render(state: DashboardState, width: number, logLines = 8): string {
	const lines: string[] = [];
	lines.push("room1 firmware, XS host simulator");
	lines.push(`broker ${state.broker}   Wi-Fi ${connection(state.wifi)}   MQTT ${connection(state.mqtt)}`);
	lines.push(`LED    ${state.led === "on" ? "◉ ON" : state.led === "off" ? "○ off" : "? unknown"}`);
	const temperatures = state.temperatures;
	if (temperatures.length) {
		const last = temperatures[temperatures.length - 1]!;
		const graphWidth = Math.max(8, width - 40);
		lines.push(`temp   ${sparkline(temperatures, graphWidth)}  ${last.toFixed(2)} °C (min ${Math.min(...temperatures.slice(-graphWidth)).toFixed(2)}, max ${Math.max(...temperatures.slice(-graphWidth)).toFixed(2)})`);
	} else {
		lines.push("temp   (no reading yet)");
	}
	let row = "";
	for (const { label, value } of state.counters) {
		const cell = `${label} ${value ?? "-"}`;
		if (row && row.length + 3 + cell.length > width) {
			lines.push(row);
			row = "";
		}
		row += (row ? "   " : "") + cell;
	}
	if (row) lines.push(row);
	lines.push("─".repeat(Math.min(width, 80)));
	lines.push(...state.logs.slice(-logLines));
	return lines.map((line) => fit(line, width)).join("\n");
}
