/*
 * XS side of the portable test runner and the benchmarks: Node sends
 * `{ module, case }` and gets back `{ ok, error }`, or `{ module, bench,
 * count }` and gets back the meter reading around that many runs.
 */
/** What a module under test exports: the shape test/lib/suite defines, as far as the runner reads it. */
interface CaseSet {
	readonly name: string;
	readonly cases: Readonly<Record<string, () => void>>;
}

type Request =
	| { kind: "case"; module: string; name: string }
	| { kind: "names"; module: string }
	| { kind: "bench"; module: string; name: string; count: number }
	| { kind: "gc" };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// Modules are imported up front by Node's "load" request, so that a case
// runs synchronously inside one crank and its meters are its own.
const loaded = new Map<string, Record<string, unknown>>();

export function load(name: string, namespace: Record<string, unknown>): void {
	loaded.set(name, namespace);
}

function module(name: string): Record<string, unknown> {
	const namespace = loaded.get(name);
	if (!namespace) throw new Error(`module "${name}" was not loaded`);
	return namespace;
}

function answer(value: unknown): ArrayBuffer {
	return encoder.encode(JSON.stringify(value)).buffer as ArrayBuffer;
}

globalThis.handleCommand = (bytes: ArrayBuffer): ArrayBuffer => {
	const request = JSON.parse(decoder.decode(bytes)) as Request;
	// A full collection, so that the reply's heap count is what is live.
	if (request.kind === "gc") {
		(globalThis as unknown as { gc?: () => void }).gc?.();
		return answer({});
	}
	if (request.kind === "names") {
		const suite = module(request.module).suite as CaseSet;
		return answer({ name: suite.name, cases: Object.keys(suite.cases) });
	}
	if (request.kind === "case") {
		const suite = module(request.module).suite as CaseSet;
		try {
			suite.cases[request.name]!();
			return answer({ ok: true });
		} catch (error) {
			const e = error as Error;
			return answer({ ok: false, error: `${e.name ?? "Error"}: ${e.message ?? String(e)}`, stack: e.stack });
		}
	}
	// A benchmark: `setup()` returns the operation; only the loop is metered.
	const benches = module(request.module).benches as Record<string, () => () => void>;
	const operation = benches[request.name]!();
	const before = resetMeter(0, 0);
	for (let i = 0; i < request.count; i++) operation();
	const compute = resetMeter(0, before);
	return answer({ compute });
};
