/*
 * Runs inside the xsnap CLI (a release XS engine, no debugger). The Node
 * half (bench/engine.ts) starts one engine per job, so that each side of
 * each path is built and metered alone: nothing another rig armed can run
 * on the virtual timer or write to a socket during its loop.
 *
 *   cd build/xsnap && xsnap -e 'import("bench/xs/engine-driver").then((d) => d.job({ path: 0, side: "ours", runs: 1000 }))'
 *
 * `list()` prints the paths; `job()` meters one side of one path and
 * prints one JSON line; `jobs()` runs several in one engine, in order, which
 * the harness refuses (the isolation check) as soon as a rig is still alive.
 */
import { paths, type Bench, type BoardSocket, type ModdableClientClass } from "bench/xs/paths";
import { armed, overdue } from "bench/xs/moddable-timer";
import { BenchSocket } from "bench/xs/wire";

declare function print(...values: unknown[]): void;
declare function gc(): void;
declare function resetMeter(newLimit: number, newIndex: number): number;
declare function currentHeapCount(): number;

export interface Job {
	/** Index into `paths`. */
	path: number;
	side: "ours" | "theirs";
	/** Metered runs (1,000 in `npm run bench`). */
	runs: number;
	/** Runs per slot batch: small enough that no GC runs inside one (Moddable's client allocates about 170 slots a run). */
	slotRuns?: number;
}

export interface Measured {
	/** XS units per run. */
	units: number;
	/** Slots allocated per run. */
	slots: number;
	/** Timers armed when the rig was built (the rig's own, after it connected). */
	timers: number;
}

/** What must hold before a rig is built: no other rig's timer armed, no socket open. */
function aloneCheck(): string | undefined {
	const timers = armed(), sockets = BenchSocket.open.size;
	return timers || sockets ? `another rig is alive: ${timers} timer(s) armed, ${sockets} socket(s) open` : undefined;
}

/** Runs `op` once with the socket capturing and judges what it wrote; metering runs without capture. */
function proof(bench: Bench, runs: number): void {
	bench.socket.capture = [];
	for (let run = 0; run < runs; run++) {
		bench.op();
		const problem = bench.expect(bench.socket.take());
		if (problem) throw new Error(problem);
	}
	bench.socket.capture = undefined;
}

/** Throws what `check` found after `runs` runs, or a timer left due, or the rig's socket gone or joined by another. */
function verify(bench: Bench, runs: number, when: string): void {
	const problem = bench.check(runs) ?? (overdue() ? "a timer is due and has not run" : undefined)
		?? (BenchSocket.open.size !== 1 || !BenchSocket.open.has(bench.socket) ? `${BenchSocket.open.size} socket(s) open, expected the rig's one` : undefined);
	if (problem) throw new Error(`${when}: ${problem}`);
}

function meter(build: () => Bench, runs: number, slotRuns: number): Measured {
	const alone = aloneCheck();
	if (alone) throw new Error(alone);
	const bench = build();
	const timers = armed();
	const op = bench.op;
	proof(bench, 3);
	verify(bench, 3, "before metering");
	resetMeter(0, 0);
	for (let i = 0; i < runs; i++) op();
	const units = resetMeter(0, 0) / runs;
	verify(bench, 3 + runs, "after the metered loop");
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
	proof(bench, 1);
	verify(bench, 4 + runs + slotRuns * 3, "after metering");
	return { units, slots: (twice - once) / slotRuns, timers };
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
	const runs = 1000;
	resetMeter(0, 0);
	for (let i = 0; i < runs; i++) arrayBuffer.fromString("sensors/room1/temp");
	const shimmed = resetMeter(0, 0);
	for (let i = 0; i < runs; i++) native("sensors/room1/temp");
	return (shimmed - resetMeter(0, 0)) / runs;
}

async function run(job: Job): Promise<Measured & { shimUnits?: number }> {
	const path = paths[job.path] ?? fail(`no path ${job.path}`);
	const slotRuns = job.slotRuns ?? 40;
	if (job.side === "ours") {
		// hosts/moddable/socket.ts over the bench's TCP class, installed by the Node half.
		const { openSocket } = await import("bench/board-socket" as string) as { openSocket: BoardSocket };
		return meter(() => path.ours(openSocket), job.runs, slotRuns);
	}
	if (!path.theirs) fail(`${path.name}: Moddable's client has no such path`);
	const shimUnits = installModdableGlobals();
	const client = ((await import("moddable/mqttclient" as string)) as { default: ModdableClientClass }).default;
	return { ...meter(() => path.theirs!(client), job.runs, slotRuns), shimUnits };
}

function fail(message: string): never {
	throw new Error(message);
}

function report(promise: Promise<unknown>): Promise<void> {
	return promise.then((result) => print("ENGINE-BENCH " + JSON.stringify(result)),
		(error: Error) => print("ENGINE-BENCH-ERROR " + JSON.stringify(`${error.message}\n${error.stack ?? ""}`)));
}

/** The paths, as the Node half needs them. */
export function list(): Promise<void> {
	return report(Promise.resolve(paths.map((path) => ({ name: path.name, target: path.target, ratio: path.ratio, theirs: path.theirs !== undefined }))));
}

/** One side of one path, metered in this engine, which must have run nothing else. */
export function job(job: Job): Promise<void> {
	return report(run(job));
}

/** Several jobs in this one engine, in order: what the harness must refuse once a rig is left alive. */
export function jobs(list: Job[]): Promise<void> {
	return report((async () => {
		const results = [];
		for (const each of list) results.push(await run(each));
		return results;
	})());
}
