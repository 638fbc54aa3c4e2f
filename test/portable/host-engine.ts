import { defineSuite } from "test/lib/suite";
import * as assert from "test/lib/assert";

/*
 * The engine behaviour the firmware and the host bridges rely on, checked
 * on every host: if XS and Node ever differ here, the portable suites
 * would test one thing on Node and ship another.
 */
export const suite = defineSuite("the engine features every host relies on", {
	"the engine features the firmware relies on behave alike on every host"() {
		// mulberry32 (seeded jitter, simulated sensors) needs 32-bit Math.imul and >>> exactly.
		// 0x6d2b79f5 × (2^31 - 1) mod 2^32 = 2^31 - 0x6d2b79f5 (the multiplier is odd).
		assert.equal(Math.imul(0x6d2b79f5, 0x7fffffff) >>> 0, 0x80000000 - 0x6d2b79f5);
		// The XS bridge sends sensor samples as JSON: NaN must arrive as null, never as a number.
		assert.equal(JSON.stringify({ temperature: NaN }), '{"temperature":null}');
		// Bytes pass the bridge as Latin-1 text: every byte value survives the round trip.
		const bytes = Array.from({ length: 256 }, (_, i) => i);
		assert.deepEqual(Array.from(String.fromCharCode(...bytes), (c) => c.charCodeAt(0)), bytes);
		// The native UTF-8 decoder must keep a leading BOM (MQTT forbids skipping it) and replace bad bytes.
		const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
		assert.equal(decoder.decode(Uint8Array.of(0xef, 0xbb, 0xbf, 0x41)), "\ufeffA");
		assert.equal(decoder.decode(Uint8Array.of(0x41, 0xff)), "A\ufffd");
		// Number formatting of readings: toFixed pads, as the JSON payload promises.
		assert.equal((21.1).toFixed(2), "21.10");
	},
	"reports a failing assertion"() {
		assert.throws(() => assert.equal(1, 2), /expected 2, got 1/);
	},
});
