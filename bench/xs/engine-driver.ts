/*
 * Runs inside the xsnap CLI (a release XS engine, no debugger): meters every
 * path of bench/xs/paths for ours and, when the SDK's client was copied in,
 * for Moddable's, and prints one JSON line for the Node side to read.
 *
 *   cd build/xsnap && xsnap -m bench/xs/engine-driver
 */
import { paths, type Bench, type ModdableClientClass } from "bench/xs/paths";

declare function print(...values: unknown[]): void;
declare function gc(): void;
declare function resetMeter(newLimit: number, newIndex: number): number;
declare function currentHeapCount(): number;

interface Measured {
	/** XS units per run, over `runs` runs. */
	units: number;
	/** Slots allocated per run. */
	slots: number;
}

const runs = 1000;
// Small enough that no GC runs inside a batch, even for Moddable's client (about 170 slots a run).
const slotRuns = 40;

function meter(bench: Bench): Measured {
	const op = bench.op;
	resetMeter(0, 0);
	for (let i = 0; i < runs; i++) op();
	const units = resetMeter(0, 0) / runs;
	let problem = bench.check(runs);
	if (problem) throw new Error(problem);
	// Slots: the live heap after a full GC, then after N runs and after 2N, so
	// the first runs' one-off allocations cancel. No GC runs inside a batch.
	const grown = (count: number): number => {
		gc();
		const before = currentHeapCount();
		for (let i = 0; i < count; i++) op();
		return currentHeapCount() - before;
	};
	const once = grown(slotRuns);
	const twice = grown(slotRuns * 2);
	problem = bench.check(runs + slotRuns * 3);
	if (problem) throw new Error(problem);
	return { units, slots: (twice - once) / slotRuns };
}

/**
 * Moddable's client calls ArrayBuffer.fromString for every topic, a native
 * function of Moddable's runtime that the xsnap CLI lacks: here it is one JS
 * call into the engine's native TextEncoder. Its own cost is measured so the
 * reader can take it off Moddable's figures.
 */
function installModdableGlobals(): number {
	const encoder = new (globalThis as unknown as { TextEncoder: new () => { encode(text: string): Uint8Array } }).TextEncoder();
	const decoder = new (globalThis as unknown as { TextDecoder: new () => { decode(bytes: ArrayBuffer): string } }).TextDecoder();
	const arrayBuffer = ArrayBuffer as unknown as { fromString(text: string): ArrayBufferLike };
	arrayBuffer.fromString = (text: string) => encoder.encode(text).buffer;
	(String as unknown as { fromArrayBuffer(buffer: ArrayBuffer): string }).fromArrayBuffer = (buffer: ArrayBuffer) => decoder.decode(buffer);
	(globalThis as unknown as { trace(...values: unknown[]): void }).trace = () => {};
	const native = (text: string) => encoder.encode(text);
	resetMeter(0, 0);
	for (let i = 0; i < runs; i++) arrayBuffer.fromString("sensors/room1/temp");
	const shimmed = resetMeter(0, 0);
	for (let i = 0; i < runs; i++) native("sensors/room1/temp");
	return (shimmed - resetMeter(0, 0)) / runs;
}

async function main(): Promise<void> {
	const shim = installModdableGlobals();
	let theirs: ModdableClientClass | undefined;
	let missing = "";
	try {
		theirs = ((await import("moddable/mqttclient")) as { default: ModdableClientClass }).default;
	} catch (error) {
		missing = String(error);
	}
	const results = [];
	for (const path of paths) {
		const ours = meter(path.ours());
		const other = theirs && path.theirs ? meter(path.theirs(theirs)) : undefined;
		results.push({ name: path.name, target: path.target, ours, theirs: other });
	}
	print("ENGINE-BENCH " + JSON.stringify({ results, moddableClient: theirs ? "loaded" : missing, shimUnits: shim }));
}

// Only inside the xsnap CLI: the bench's Node half imports every bench/xs module to list their `benches`.
if (typeof resetMeter === "function") main().catch((error: Error) => print("ENGINE-BENCH-ERROR " + JSON.stringify(`${error.message}\n${error.stack ?? ""}`)));
