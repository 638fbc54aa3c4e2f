/*
 * Runs every portable suite (test/portable/*) on Node and on the real XS
 * engine. Each case appears twice in the output, tagged [node] and [xs].
 */
import fs from "node:fs";
import path from "node:path";
import type { PortableSuite } from "test/lib/suite";
import { XsRunner, projectRoot } from "../tools/rigs/xs.js";

const names = JSON.parse(fs.readFileSync(path.join(projectRoot, "build", "js", "modules.json"), "utf8")) as Record<string, string>;
const suites: { module: string; suite: PortableSuite }[] = [];
for (const module of Object.keys(names).filter((name) => name.startsWith("test/portable/")).sort()) {
	const namespace = await import(module) as { suite?: PortableSuite };
	if (namespace.suite) suites.push({ module, suite: namespace.suite });
}

let xs: XsRunner | undefined;

describe("portable suites (Node and XS)", function () {
	before(async function () {
		xs = await XsRunner.start();
	});
	after(async function () {
		await xs?.close();
	});
	for (const { module, suite } of suites) {
		describe(suite.name, function () {
			for (const [name, run] of Object.entries(suite.cases) as [string, () => void][]) {
				it(`${name} [node]`, function () {
					run();
				});
				it(`${name} [xs]`, async function () {
					// The XS host simulator interprets what Node compiles: the heaviest cases (the packet-id wrap walks
					// 65,536 ids) take 15-35 s there on a loaded two-core machine. A bound, not a speed target.
					this.timeout(90000);
					const result = await xs!.runCase(module, name);
					if (!result.ok) throw new Error(`on XS: ${result.error}\n${result.stack ?? ""}`);
				});
			}
		});
	}
});
