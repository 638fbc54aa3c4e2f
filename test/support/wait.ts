/** Polls `condition` until it holds, or fails with `what` after `timeout` ms. */
export async function waitFor(condition: () => boolean, timeout = 5000, what = condition.toString()): Promise<void> {
	const deadline = Date.now() + timeout;
	while (!condition()) {
		if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
		await new Promise((resolve) => setTimeout(resolve, 5));
	}
}
