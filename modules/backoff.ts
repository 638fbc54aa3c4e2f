/*
 * Exponential backoff with full jitter (AWS architecture blog, "Exponential
 * Backoff And Jitter"): the n-th retry waits a uniformly random time in
 * [0, min(maximum, minimum * factor^n)], but never less than `minimum`, so
 * that a fleet of devices that lost the same broker does not come back in
 * lockstep, and no device ever retries in a tight loop.
 */
export interface BackoffOptions {
	/** First delay's upper bound, and the floor of every delay, in ms. */
	minimum: number;
	/** Ceiling of every delay, in ms. */
	maximum: number;
	/** Growth of the bound per failed attempt; at least 1. */
	factor: number;
}

/** A random number source in [0, 1); injectable so tests are reproducible. */
export type Random = () => number;

/**
 * mulberry32: tiny, fast, the same sequence on every engine for a seed. For
 * tests, simulated sensors, and jitter on hosts whose Math.random is never
 * seeded (there the host seeds this from something that varies).
 */
export function seededRandom(seed: number): Random {
	let state = seed >>> 0;
	return () => {
		let t = (state = (state + 0x6d2b79f5) | 0);
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

export class Backoff {
	readonly options: BackoffOptions;
	readonly #random: Random;
	#attempt = 0;

	constructor(options: BackoffOptions, random: Random) {
		if (!(options.minimum > 0)) throw new RangeError(`backoff minimum must be > 0 ms, got ${options.minimum}`);
		if (!(options.maximum >= options.minimum)) throw new RangeError(`backoff maximum must be >= minimum (${options.minimum} ms), got ${options.maximum}`);
		if (!(options.factor >= 1)) throw new RangeError(`backoff factor must be >= 1, got ${options.factor}`);
		this.options = options;
		this.#random = random;
	}

	/** Failed attempts since the last success. */
	get attempt(): number {
		return this.#attempt;
	}

	/** The delay before the next attempt; each call counts one more failure. */
	next(): number {
		const { minimum, maximum, factor } = this.options;
		// Drawn below the bound min(maximum, minimum * factor^attempt).
		return Math.max(minimum, Math.floor(this.#random() * Math.min(maximum, minimum * Math.pow(factor, this.#attempt++))));
	}

	/** A failure that retrying soon cannot fix (bad credentials): wait the maximum. */
	nextAtMaximum(): number {
		this.#attempt++;
		return this.options.maximum;
	}

	reset(): void {
		this.#attempt = 0;
	}
}
