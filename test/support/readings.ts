/*
 * Readings as a subscriber saw them: their sequence numbers must run on
 * without a gap or a restart (a QoS 1 redelivery may repeat one).
 */
import assert from "node:assert/strict";

export function assertNoGaps(seqs: readonly number[]): void {
	const unique = seqs.filter((seq, i) => i === 0 || seq !== seqs[i - 1]);
	const broken = unique.flatMap((seq, i) => (i > 0 && seq !== unique[i - 1]! + 1 ? [`${unique[i - 1]} then ${seq}`] : []));
	assert.deepEqual(broken, [], `readings ${unique[0]}-${unique[unique.length - 1]} without a gap or a restart of seq`);
}
