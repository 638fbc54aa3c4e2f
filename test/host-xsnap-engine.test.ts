/*
 * Which XS the XS host simulator runs: the XS 17 worker that
 * $XSNAP_WORKER names (CI's real-SDK stage builds it with
 * scripts/engines/build-xsnap.sh), else @agoric/xsnap's bundled XS 13.3.
 * The binary's banner is checked against the running engine's own features,
 * so a mislabelled or wrong binary fails here.
 */
import assert from "node:assert/strict";
import { XsWorker } from "../hosts/xsnap/worker.js";
import { xsModuleRoot } from "../tools/rigs/xs.js";

const expectedMajor = process.env.XSNAP_WORKER ? 17 : 13;

describe(`XS host engine (XS ${expectedMajor}.x expected: XSNAP_WORKER is ${process.env.XSNAP_WORKER ? "set" : "unset"})`, function () {
	let worker: XsWorker | undefined;
	after(async function () {
		await worker?.close();
	});

	it(`runs XS ${expectedMajor}.x, by the banner and by what the engine can do`, async function () {
		worker = new XsWorker({ moduleRoot: xsModuleRoot });
		const major = Number(worker.xsVersion.split(".")[0]);
		assert.equal(major, expectedMajor, `${worker.binary} is XS ${worker.xsVersion}`);
		// ES2025/2026 built-ins that XS 13.3 lacks and XS 17.7 has.
		const reply = await worker.evaluate(`new TextEncoder().encode(JSON.stringify({
			isError: typeof Error.isError, fromBase64: typeof Uint8Array.fromBase64,
		})).buffer`);
		const features = JSON.parse(new TextDecoder().decode(reply.bytes)) as Record<string, string>;
		const present = major >= 17 ? "function" : "undefined";
		assert.deepEqual(features, { isError: present, fromBase64: present }, `XS ${worker.xsVersion} at ${worker.binary}`);
		assert.ok(reply.meter.compute > 0, "the worker reports its meters");
	});
});
