/*
 * Starts the XS host simulator's engine for tests and benchmarks, with the
 * firmware and portable test modules built into build/xsnap.
 */
import { XsWorker, type Meter } from "../../hosts/xsnap/worker.js";
import { projectRoot, xsModuleRoot } from "../../hosts/xsnap/paths.js";

export { projectRoot, xsModuleRoot };

export interface CaseResult {
	ok: boolean;
	error?: string;
	stack?: string;
}

/** An XS engine with the portable runner loaded. */
export class XsRunner {
	readonly worker: XsWorker;
	readonly #loaded = new Set<string>();

	private constructor(worker: XsWorker) {
		this.worker = worker;
	}

	static async start(): Promise<XsRunner> {
		const worker = new XsWorker({ moduleRoot: xsModuleRoot });
		await worker.runModule("xsnap/runner");
		return new XsRunner(worker);
	}

	async load(module: string): Promise<void> {
		if (this.#loaded.has(module)) return;
		const name = JSON.stringify(module);
		await this.worker.evaluate(
			`Promise.all([import("xsnap/runner"), import(${name})]).then(([runner, ns]) => runner.load(${name}, ns))`);
		this.#loaded.add(module);
	}

	async request<T>(request: object): Promise<{ value: T; meter: Meter }> {
		const reply = await this.worker.command(new TextEncoder().encode(JSON.stringify(request)));
		return { value: JSON.parse(new TextDecoder().decode(reply.bytes)) as T, meter: reply.meter };
	}

	async runCase(module: string, name: string): Promise<CaseResult> {
		await this.load(module);
		return (await this.request<CaseResult>({ kind: "case", module, name })).value;
	}

	/** Metered compute of `count` runs of a benchmark's operation, inside XS. */
	async meter(module: string, name: string, count: number): Promise<number> {
		await this.load(module);
		return (await this.request<{ compute: number }>({ kind: "bench", module, name, count })).value.compute;
	}

	/**
	 * XS slots a benchmark's operation allocates per run: the live heap after
	 * a full GC, then after `count` runs, and again for twice as many, so that
	 * the setup's own allocations cancel out. A GC inside a run would hide
	 * garbage, so counts stay small enough for XS's free slots.
	 */
	async slotsPerRun(module: string, name: string, count: number): Promise<number> {
		await this.load(module);
		const grown = async (runs: number): Promise<number> => {
			const before = (await this.request({ kind: "gc" })).meter.currentHeapCount;
			return (await this.request({ kind: "bench", module, name, count: runs })).meter.currentHeapCount - before;
		};
		const once = await grown(count);
		const twice = await grown(count * 2);
		return (twice - once) / count;
	}

	close(): Promise<void> {
		return this.worker.close();
	}
}
