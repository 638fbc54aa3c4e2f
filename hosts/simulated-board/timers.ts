/*
 * Moddable's Timer.repeat for the simulators whose timers fire once (the
 * Node host's board time, the XS host simulator's bridge): a timer re-armed
 * each time it fires, on a fixed grid from the first due time, so a late
 * firing delays one call and not the ones after it. The handle keeps the
 * current one-shot id, so the host's own clear() stops it.
 */
export function repeatOnGrid(set: (callback: () => void, delay: number) => number, now: () => number, callback: () => void, interval: number): { id: number } {
	const handle = { id: 0 };
	let due = now() + interval;
	const fire = (): void => {
		// Past a whole interval late, the grid starts again from now rather than firing to catch up.
		due += interval;
		if (due <= now()) due = now() + interval;
		handle.id = set(fire, due - now());
		callback();
	};
	handle.id = set(fire, interval);
	return handle;
}
