/*
 * A realistic room temperature for simulators: a daily curve (coolest near
 * 05:00, warmest near 15:00) plus small seeded noise, so that graphs and
 * dead-band logic see something like a real sensor.
 */
import { seededRandom, type Random } from "backoff";

const DAY = 86400000;

export class DailyTemperature {
	/** Mean and half-swing of the daily curve, in °C. */
	readonly mean: number;
	readonly swing: number;
	/** Standard-ish noise amplitude, in °C. */
	readonly noise: number;
	readonly #random: Random;

	constructor(seed = 1, mean = 21, swing = 2.5, noise = 0.05) {
		this.#random = seededRandom(seed >>> 0 || 1);
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

	/** Relative humidity that falls as the room warms (about 45 % at the mean), %. */
	humidityAt(temperature: number): number {
		return Math.round((45 - 3 * (temperature - this.mean)) * 10) / 10;
	}
}

/** sensor=simulated-faulty fails one sample in this many. */
export const simulatedFaultEvery = 3;

/**
 * The simulators' sensor: the daily curve with humidity. With `faulty`
 * (sensor=simulated-faulty) every third sample fails, alternately with a bus
 * error and with NaN, so the fault and recovery path can be watched from
 * `npm start`.
 */
export class SimulatedSensor {
	samples = 0;
	readonly #curve: DailyTemperature;
	readonly #faulty: boolean;
	readonly #time: () => number;

	constructor(options: { seed: number; faulty: boolean; time: () => number }) {
		this.#curve = new DailyTemperature(options.seed);
		this.#faulty = options.faulty;
		this.#time = options.time;
	}

	sample(): { temperature: number; humidity: number } {
		const n = ++this.samples;
		if (this.#faulty && n % simulatedFaultEvery === 0) {
			if (n % (2 * simulatedFaultEvery) === 0) return { temperature: NaN, humidity: NaN };
			throw new Error("simulated fault (sensor=simulated-faulty): no acknowledge on the I2C bus");
		}
		const temperature = this.#curve.at(this.#time());
		return { temperature, humidity: this.#curve.humidityAt(temperature) };
	}
}
