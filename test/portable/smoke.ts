import { defineSuite } from "test/lib/suite";
import * as assert from "test/lib/assert";

export const suite = defineSuite("portable runner", {
	"runs the same case on every host"() {
		assert.equal([1, 2, 3].map((n) => n * 2).join(","), "2,4,6");
	},
	"reports a failing assertion"() {
		assert.throws(() => assert.equal(1, 2), /expected 2, got 1/);
	},
});
