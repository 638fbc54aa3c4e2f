/*
 * Timer.repeat for the simulators whose timers fire once: on a fixed grid,
 * a late firing delaying one call and not the ones after it, and stopped by
 * the host's own clear through the handle.
 */
import assert from "node:assert/strict";
import { VirtualTime } from "../hosts/simulated-board/board.js";
import { repeatOnGrid } from "../hosts/simulated-board/timers.js";

/** One-shot timers on a virtual clock, the next one set firing `late` ms late, once. */
function lateTimers(time: VirtualTime): { set(fire: () => void, delay: number): number; late: number } {
	const timers = {
		late: 0,
		set(fire: () => void, delay: number): number {
			const id = time.set(fire, delay + timers.late);
			timers.late = 0;
			return id;
		},
	};
	return timers;
}

describe("repeating timers on one-shot simulator timers", () => {
	it("fire on the grid of the first due time, a late firing moving no later one, until cleared", async () => {
		const time = new VirtualTime();
		const timers = lateTimers(time);
		const fired: number[] = [];
		const handle = repeatOnGrid(timers.set, () => time.now(), () => fired.push(time.now()), 1000);
		await time.advance(2999);
		// The timer armed at 3000 fires 300 ms late; the one after it is back on the grid.
		timers.late = 300;
		await time.advance(3001);
		assert.deepEqual(fired, [1000, 2000, 3000, 4300, 5000, 6000]);
		time.clear(handle.id);
		await time.advance(5000);
		assert.equal(fired.length, 6);
		assert.equal(time.pending, 0);
	});

	it("after a stall longer than the interval, starts the grid again from then instead of catching up", async () => {
		const time = new VirtualTime();
		const timers = lateTimers(time);
		const fired: number[] = [];
		timers.late = 3500;
		repeatOnGrid(timers.set, () => time.now(), () => fired.push(time.now()), 1000);
		await time.advance(6500);
		assert.deepEqual(fired, [4500, 5500, 6500]);
	});
});
