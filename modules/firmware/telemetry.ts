/*
 * Telemetry: samples the temperature sensor every interval and publishes
 *
 *   {"temperature":21.53,"unit":"°C","humidity":41.2,"seq":17,"ts":1795357918906,"clock":"wall"}
 *
 * - temperature: °C, plus the calibration offset, rounded to the configured
 *   number of decimals;
 * - humidity: % relative humidity, one decimal, only from a sensor that has
 *   it (SHT3x);
 * - seq: counts published readings from boot, so a gap shows a lost one;
 * - ts: epoch ms once SNTP has set the clock ("clock":"wall"), ms since
 *   boot before that ("clock":"uptime"). It is the time of the sample, so
 *   readings queued while offline keep their own time.
 *
 * A sensor fault (an exception, NaN, or a value outside -55..150 °C, which
 * no supported sensor can report) publishes nothing for that sample: it is
 * counted and reported, and polling goes on.
 */
import type { Host, TemperatureSensor, TimerHandle } from "platform";

export const validRange = { min: -55, max: 150 };

export interface TelemetryOptions {
	host: Host;
	/** Opens the sensor; called again after a failure to open. */
	openSensor(): TemperatureSensor;
	publish(payload: string): void;
	interval: number;
	precision: number;
	/** Added to every temperature (calibration), °C. */
	offset?: number;
	/** Publish only when the reading moved this much (0: always). */
	deadband: number;
	/** With a dead-band, publish at least this often (ms). */
	heartbeat: number;
	/** A sample failed, or the sensor recovered. */
	onFault(message: string, consecutive: number): void;
	onRecovered(after: number): void;
	/** A valid sample: the temperature as published ("21.10"), and whether it was handed on. */
	onReading?(temperature: string, queued: boolean): void;
}

/** Readings kept for the page's chart: a fixed ring, allocated once (128 bytes). */
export const recentCapacity = 32;

export class Telemetry {
	samples = 0;
	/** Good readings taken, ever: the page's chart adds one when this moves. */
	recorded = 0;
	published = 0;
	/** Samples that changed less than the dead-band and were not published. */
	suppressed = 0;
	failures = 0;
	consecutiveFailures = 0;
	lastTemperature: number | undefined;
	lastHumidity: number | undefined;
	readonly #options: TelemetryOptions;
	#sensor: TemperatureSensor | undefined;
	#timer: TimerHandle | undefined;
	#lastPublished: number | undefined;
	#lastPublishedAt = 0;
	readonly #tick: () => void;
	/** 10 ** precision, for rounding. */
	readonly #scale: number;
	readonly #recent = new Float32Array(recentCapacity);

	constructor(options: TelemetryOptions) {
		this.#options = options;
		this.#scale = 10 ** options.precision;
		this.#tick = () => this.sample();
	}

	/** Takes the first sample now, then one every interval, on a fixed grid: one timer for good. */
	start(): void {
		if (this.#timer !== undefined) return;
		this.#timer = this.#options.host.timers.repeat(this.#tick, this.#options.interval);
		this.sample();
	}

	stop(): void {
		if (this.#timer !== undefined) this.#options.host.timers.clear(this.#timer);
		this.#timer = undefined;
	}

	/** One sample: read, check, and publish if it is due. */
	sample(): void {
		const options = this.#options;
		this.samples++;
		let temperature: number;
		let humidity: number | undefined;
		try {
			this.#sensor ??= options.openSensor();
			const sample = this.#sensor.sample();
			temperature = sample.temperature;
			humidity = sample.humidity;
		} catch (error) {
			// A sensor that cannot be opened is retried from scratch next time.
			this.#sensor = undefined;
			return this.#fault(`sensor error: ${(error as Error).message}`);
		}
		if (typeof temperature !== "number" || Number.isNaN(temperature)) return this.#fault("sensor returned no number (NaN)");
		if (!(temperature >= validRange.min && temperature <= validRange.max)) {
			return this.#fault(`sensor returned ${temperature} °C, outside ${validRange.min}..${validRange.max} °C`);
		}
		if (this.consecutiveFailures > 0) {
			options.onRecovered(this.consecutiveFailures);
			this.consecutiveFailures = 0;
		}
		const scale = this.#scale;
		const rounded = Math.round((options.offset === undefined ? temperature : temperature + options.offset) * scale) / scale;
		const text = rounded.toFixed(options.precision);
		const humidityField = typeof humidity === "number" && humidity >= 0 && humidity <= 100 ? `,"humidity":${round(humidity, 1)}` : "";
		this.lastHumidity = humidityField ? round(humidity!, 1) : undefined;
		this.lastTemperature = rounded;
		this.#recent[this.recorded++ % recentCapacity] = rounded;
		const now = options.host.clock.now();
		const due = options.deadband <= 0 || this.#lastPublished === undefined ||
			Math.abs(rounded - this.#lastPublished) >= options.deadband || now - this.#lastPublishedAt >= options.heartbeat;
		if (!due) {
			this.suppressed++;
			options.onReading?.(text, false);
			return;
		}
		this.#lastPublished = rounded;
		this.#lastPublishedAt = now;
		const wall = options.host.clock.wallTime();
		options.publish(wall === undefined
			? `{"temperature":${text},"unit":"°C"${humidityField},"seq":${++this.published},"ts":${now},"clock":"uptime"}`
			: `{"temperature":${text},"unit":"°C"${humidityField},"seq":${++this.published},"ts":${wall},"clock":"wall"}`);
		if (options.onReading !== undefined) options.onReading(text, true);
	}

	/** The readings kept, oldest first, at the configured precision (a new array: for the page, not per sample). */
	recent(): number[] {
		const count = Math.min(this.recorded, recentCapacity);
		const readings: number[] = [];
		for (let i = this.recorded - count; i < this.recorded; i++) readings.push(round(this.#recent[i % recentCapacity]!, this.#options.precision));
		return readings;
	}

	#fault(message: string): void {
		this.failures++;
		this.consecutiveFailures++;
		this.#options.onFault(message, this.consecutiveFailures);
	}
}

function round(value: number, decimals: number): number {
	const scale = 10 ** decimals;
	return Math.round(value * scale) / scale;
}
