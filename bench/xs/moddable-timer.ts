/*
 * Moddable's `timer` and `time` modules on a virtual clock, for the engine
 * bench: Moddable's MQTT client imports them, and our bench host's timers use
 * the same ones, so both clients pay the same for a timer. On a device they
 * are native; here they are a few lines of JS.
 */
interface Entry {
	callback: ((timer: Entry) => void) | undefined;
	due: number;
	interval: number;
}

let now = 0;
let pending: Entry[] = [];
/** No timer is due before this; a cleared timer may leave it early, which costs one pass. */
let earliest = Infinity;

export default class Timer {
	static set(callback: (timer: Entry) => void, delay = 0, repeat = 0): Entry {
		const timer = { callback, due: now + delay, interval: repeat };
		pending.push(timer);
		if (timer.due < earliest) earliest = timer.due;
		return timer;
	}

	static repeat(callback: (timer: Entry) => void, interval: number): Entry {
		return Timer.set(callback, interval, interval);
	}

	static clear(timer: Entry | undefined): void {
		if (timer) timer.callback = undefined;
	}
}

export class Time {
	static get ticks(): number {
		return now;
	}

	static delta(start: number, end = now): number {
		return end - start;
	}
}

/** The virtual clock's time, in ms. */
export function clockNow(): number {
	return now;
}

/** Moves the clock on and runs every timer that is due, in order. */
export function advance(ms: number): void {
	now += ms;
	runDue();
}

/** Runs the timers that are due now, including those their callbacks set with no delay. */
export function runDue(): void {
	while (earliest <= now) runOnce();
}

// Two lists in turn, and an indexed loop: a pass allocates nothing, as a device's native timers
// allocate no JavaScript slots (a new list or an iterator per pass would be charged to the client).
let spare: Entry[] = [];

function runOnce(): void {
	const due = pending;
	pending = spare;
	spare = due;
	earliest = Infinity;
	for (let i = 0; i < due.length; i++) {
		const timer = due[i]!;
		const callback = timer.callback;
		if (callback === undefined) continue;
		if (timer.due > now) {
			pending.push(timer);
			if (timer.due < earliest) earliest = timer.due;
			continue;
		}
		if (timer.interval) {
			timer.due += timer.interval;
			pending.push(timer);
			if (timer.due < earliest) earliest = timer.due;
		} else timer.callback = undefined;
		callback(timer);
	}
	due.length = 0;
}

/** Timers armed (set and neither fired nor cleared), whoever set them. */
export function armed(): number {
	let count = 0;
	for (const timer of pending) if (timer.callback !== undefined) count++;
	return count;
}

/** Whether an armed timer is due now and has not run. */
export function overdue(): boolean {
	return pending.some((timer) => timer.callback !== undefined && timer.due <= now);
}
