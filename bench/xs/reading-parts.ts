/*
 * Where (a), a QoS 1 reading, spends its units: the firmware rig of
 * bench/xs/paths, with marks at the seams (the timer's callback, toFixed,
 * the native encode, the socket's write and read, the client's socket
 * callbacks behind hosts/moddable/socket.ts), in an engine of its own.
 * Each mark reads and resets the meter; what one mark costs is measured and
 * taken off every part, and the sum is printed beside the unmarked figure
 * (the difference is what the hooks' own calls add).
 *
 *   cd build/xsnap && xsnap -e 'import("bench/xs/reading-parts").then((m) => m.readingParts(1000))'
 */
import { paths, type BoardSocket } from "bench/xs/paths";
import Timer from "bench/xs/moddable-timer";
import { BenchSocket } from "bench/xs/wire";
import type { SocketOptions } from "platform";

declare function print(...values: unknown[]): void;
declare function resetMeter(newLimit: number, newIndex: number): number;
declare function gc(): void;
declare function currentHeapCount(): number;

const parts = new Map<string, { units: number; marks: number; slots: number }>();
let heap = 0;

/** Ends the part running since the last mark, charging it its units and the slots it allocated. */
function mark(part: string): void {
	const units = resetMeter(0, 0);
	const now = currentHeapCount();
	const slots = now - heap;
	const entry = parts.get(part);
	if (entry) {
		entry.units += units;
		entry.marks++;
		entry.slots += slots;
	} else parts.set(part, { units, marks: 1, slots });
	heap = currentHeapCount();
	resetMeter(0, 0);
}

/** Wraps `owner[name]` so that the part before it and the part inside it are told apart. */
function seam(owner: object, name: string, before: string, inside: string): void {
	const target = owner as Record<string, (...args: unknown[]) => unknown>;
	const original = target[name]!;
	// Two fixed arguments, enough for every seam: rest arguments would allocate.
	target[name] = function (this: unknown, a: unknown, b: unknown) {
		mark(before);
		const result = original.call(this, a, b);
		mark(inside);
		return result;
	};
}

export async function readingParts(runs: number): Promise<void> {
	try {
		(globalThis as unknown as { trace(...values: unknown[]): void }).trace = print;
		const { openSocket } = await import("bench/board-socket" as string) as { openSocket: BoardSocket };
		const repeat = Timer.repeat;
		Timer.repeat = (callback, interval) => repeat((timer) => {
			mark("the timer's pass to the telemetry tick (the bench's JavaScript timer; native on a device)");
			callback(timer);
			mark("after the write: the rest of the tick (the reading's log line)");
		}, interval);
		seam(Number.prototype, "toFixed", "Telemetry.sample: sensor, range checks, rounding", "toFixed");
		const encoder = Object.getPrototypeOf(new (globalThis as unknown as { TextEncoder: new () => object }).TextEncoder()) as object;
		seam(encoder, "encode", "the JSON, the firmware's publish closure, into client.publish", "the JSON encoded (native)");
		seam(BenchSocket.prototype, "write", "QoS 1 publish: client, session (packet id, in-flight record, the topic's buffer), the board socket's write", "the bench socket's write (native on a device)");
		seam(BenchSocket.prototype, "read", "the PUBACK: the client's onReadable up to read", "the bench socket's read (native on a device)");
		seam(BenchSocket.prototype, "deliver", "the rest of the timer's pass: every other reading the keepalive's check (the client's wake, session.wake, flush, a Timer.set); the harness", "the harness: deliver");
		const board: BoardSocket = (options: SocketOptions) => openSocket({
			...options,
			onReadable: (count: number) => {
				mark("the board socket: onReadable's guard");
				options.onReadable(count);
				mark("the PUBACK: the session (the lane, the record back to the pool, the outcome), the quiet test");
			},
			onWritable: (count: number) => {
				mark("the TCP acknowledgement: the bench socket's acknowledge, the board socket's onWritable guard");
				options.onWritable(count);
				mark("the client's onWritable: nothing waits, the room only");
			},
		});
		const bench = paths[0]!.ours(board);
		bench.socket.capture = undefined;
		const op = bench.op;
		for (let i = 0; i < 10; i++) op();
		// Units over `runs`; slots over a batch small enough that no GC runs inside it.
		parts.clear();
		const slotRuns = 40;
		gc();
		heap = currentHeapCount();
		resetMeter(0, 0);
		for (let i = 0; i < slotRuns; i++) {
			op();
			mark("the harness");
		}
		const slots = new Map([...parts].map(([part, entry]) => [part, entry.slots / slotRuns]));
		parts.clear();
		resetMeter(0, 0);
		for (let i = 0; i < runs; i++) {
			op();
			mark("the harness");
		}
		const measured = [...parts];
		// What one mark costs, alone: taken off each part once per mark.
		parts.clear();
		resetMeter(0, 0);
		for (let i = 0; i < runs; i++) mark("calibration");
		const perMark = parts.get("calibration")!.units / runs;
		const problem = bench.check(runs + 10 + slotRuns);
		if (problem) throw new Error(problem);
		const result = measured.map(([part, { units, marks }]) => ({ part, units: (units - marks * perMark) / runs, slots: slots.get(part) ?? 0 }));
		print("ENGINE-BENCH " + JSON.stringify({ perMark, parts: result, sum: result.reduce((sum, part) => sum + part.units, 0), slots: result.reduce((sum, part) => sum + part.slots, 0) }));
	} catch (error) {
		print("ENGINE-BENCH-ERROR " + JSON.stringify(`${(error as Error).message}\n${(error as Error).stack ?? ""}`));
	}
}
