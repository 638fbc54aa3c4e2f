/*
 * The session's deadlines, in one place as quinn-proto's TimerTable: the
 * CONNACK deadline, and keepalive's PINGREQ and PINGRESP. It owns no timer
 * and reads no clock: it is told the time and when the session last sent
 * and received (the session keeps those two itself, as its hot paths write
 * them), and answers what is due and when it next needs waking.
 *
 * - CONNACK: the transport and the CONNACK must both arrive within
 *   `connackTimeout` of opening, or the attempt fails.
 * - Keepalive: a PINGREQ goes out when nothing has been sent for
 *   `keepalive`, or nothing received for `keepalive` (so a client that only
 *   publishes QoS 0 still learns that its link died); no PINGRESP within
 *   `pingTimeout` closes the link. A dead link is therefore seen within
 *   keepalive + pingTimeout, whatever the traffic.
 */

/** What `wake` found due. */
export const enum Due {
	Nothing,
	/** No CONNACK in time: the attempt failed. */
	ConnackMissing,
	/** No PINGRESP in time: the link is dead. */
	PingrespMissing,
	/** A PINGREQ is to be sent (its PINGRESP deadline is now armed). */
	Pingreq,
}

export interface DeadlineOptions {
	/** Seconds; 0 turns keepalive (and dead-link detection) off. */
	keepalive: number;
	/** ms from opening the transport to CONNACK. */
	connackTimeout: number;
	/** ms to wait for PINGRESP. */
	pingTimeout: number;
}

export class Deadlines {
	/** Keepalive in ms; 0: off. */
	readonly #interval: number;
	readonly #connackTimeout: number;
	readonly #pingTimeout: number;
	// ms on the caller's clock; -1 is "not armed".
	#connackDue = -1;
	#pingDue = -1;
	#pingSentAt = -1;

	/** Throws on an option out of range. */
	constructor(options: DeadlineOptions) {
		const { keepalive, connackTimeout, pingTimeout } = options;
		if (!(Number.isInteger(keepalive) && keepalive >= 0 && keepalive <= 65535)) throw new RangeError(`keepalive must be 0-65535 seconds, got ${keepalive}`);
		if (!(connackTimeout > 0)) throw new RangeError(`connackTimeout must be > 0 ms, got ${connackTimeout}`);
		if (!(pingTimeout > 0)) throw new RangeError(`pingTimeout must be > 0 ms, got ${pingTimeout}`);
		this.#interval = keepalive * 1000;
		this.#connackTimeout = connackTimeout;
		this.#pingTimeout = pingTimeout;
	}

	/** ms from opening the transport to CONNACK. */
	get connackTimeout(): number {
		return this.#connackTimeout;
	}

	/** ms to wait for PINGRESP. */
	get pingTimeout(): number {
		return this.#pingTimeout;
	}

	/** A connection attempt begins: the CONNACK deadline runs, and no ping is outstanding. */
	opening(now: number): void {
		this.#connackDue = now + this.#connackTimeout;
		this.#pingDue = -1;
		this.#pingSentAt = -1;
	}

	/** A CONNACK arrived, accepted or not. */
	connackReceived(): void {
		this.#connackDue = -1;
	}

	/** The connection ends, or is ending: nothing more is due on it. */
	disarm(): void {
		this.#connackDue = this.#pingDue = -1;
	}

	/** The connection failed: nothing is due, and no ping is outstanding. */
	clear(): void {
		this.#connackDue = this.#pingDue = -1;
		this.#pingSentAt = -1;
	}

	/** A PINGRESP arrived: the ms since its PINGREQ, or -1 if none was outstanding. */
	pingrespReceived(now: number): number {
		const roundTrip = this.#pingSentAt >= 0 ? now - this.#pingSentAt : -1;
		this.#pingSentAt = -1;
		this.#pingDue = -1;
		return roundTrip;
	}

	/**
	 * When `wake` is next needed, as the last `wake` that found nothing
	 * fatal left it (what `next` would answer then; -1: no timer needed).
	 * Read-only outside: it spares the caller a second call on the path a
	 * timer takes every keepalive interval.
	 */
	nextWake = -1;

	/**
	 * What is due at `now`, at most one thing, the most serious first. A
	 * PINGREQ found due counts as sent. Unless the link failed, also sets
	 * `nextWake`.
	 */
	wake(now: number, connected: boolean, lastSent: number, lastReceived: number): Due {
		const connackDue = this.#connackDue;
		if (connackDue >= 0 && now >= connackDue) return Due.ConnackMissing;
		if (this.#pingDue >= 0 && now >= this.#pingDue) return Due.PingrespMissing;
		const interval = this.#interval;
		if (connected && this.#pingDue < 0 && interval > 0) {
			if (now - lastSent >= interval || now - lastReceived >= interval) {
				this.#pingSentAt = now;
				this.nextWake = earliest(connackDue, this.#pingDue = now + this.#pingTimeout);
				return Due.Pingreq;
			}
			// Connected, no CONNACK is awaited: the keepalive's time is the answer, with no call for it.
			this.nextWake = (lastSent < lastReceived ? lastSent : lastReceived) + interval;
			return Due.Nothing;
		}
		this.nextWake = earliest(connackDue, this.#pingDue);
		return Due.Nothing;
	}

	/** The single time `wake` is next needed; undefined: no timer needed. */
	next(connected: boolean, lastSent: number, lastReceived: number): number | undefined {
		let due = earliest(this.#connackDue, this.#pingDue);
		if (connected && this.#pingDue < 0 && this.#interval > 0) {
			due = earliest(due, Math.min(lastSent, lastReceived) + this.#interval);
		}
		return due < 0 ? undefined : due;
	}
}

/** The earlier of two deadlines, where -1 means "none". */
function earliest(a: number, b: number): number {
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}
