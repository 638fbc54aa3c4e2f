/*
 * A realistic room temperature for simulators: a daily curve (coolest near
 * 05:00, warmest near 15:00) plus small seeded noise, so that graphs and
 * dead-band logic see something like a real sensor.
 */
const DAY = 86400000;

export class DailyTemperature {
	/** Mean and half-swing of the daily curve, in °C. */
	readonly mean: number;
	readonly swing: number;
	/** Standard-ish noise amplitude, in °C. */
	readonly noise: number;
	#state: number;

	constructor(seed = 1, mean = 21, swing = 2.5, noise = 0.05) {
		this.#state = seed >>> 0 || 1;
		this.mean = mean;
		this.swing = swing;
		this.noise = noise;
	}

	/** The temperature at `time` ms (epoch or uptime; the phase only matters for realism). */
	at(time: number): number {
		const phase = ((time % DAY) + DAY) % DAY / DAY;
		// Peak at 15:00: cos is 1 when phase = 15/24.
		const curve = this.mean + this.swing * Math.cos(2 * Math.PI * (phase - 15 / 24));
		return curve + this.noise * (this.#random() * 2 - 1);
	}

	// mulberry32: tiny, fast, and the same sequence on every host.
	#random(): number {
		let t = (this.#state = (this.#state + 0x6d2b79f5) | 0);
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	}
}
