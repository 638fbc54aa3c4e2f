/** Polls `condition` until it holds, or fails with `what` after `timeout` ms. */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeout = 5000, what = condition.toString()): Promise<void> {
	const deadline = Date.now() + timeout;
	while (!(await condition())) {
		if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
		await new Promise((resolve) => setTimeout(resolve, 5));
	}
}
