/**
 * Polls `condition` until it holds, or fails with `what` after `timeout` ms.
 * It looks every `pollMs` ms; 0 looks again on the next turn of the event
 * loop, for waits that are part of a measured time.
 */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeout = 5000, what = condition.toString(), pollMs = 5): Promise<void> {
	const deadline = Date.now() + timeout;
	while (!(await condition())) {
		if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
		await new Promise((resolve) => (pollMs > 0 ? setTimeout(resolve, pollMs) : setImmediate(resolve)));
	}
}
