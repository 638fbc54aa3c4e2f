/*
 * The smallest module the XS runner answers a `names` request for: an
 * empty suite. bench/run.ts times the XS bridge's round trip with it, so
 * the bench loads nothing of the test suite's.
 */
export const suite = { name: "bridge", cases: {} };
