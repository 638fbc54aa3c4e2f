/*
 * Node side of the XS host simulator: drives one XS engine process.
 *
 * The engine is the `xsnap-worker` that `@agoric/xsnap` builds from XS's C
 * sources on install (XS 13.3), or the one `$XSNAP_WORKER` names:
 * `scripts/engines/build-xsnap.sh worker xs17 $MODDABLE` builds it from the
 * same sources against the SDK's XS 17.7, the board's engine. We speak its pipe protocol directly (netstrings on
 * fds 3 and 4) rather than through @agoric/xsnap's JS wrapper, which needs a
 * SES lockdown of the whole Node process.
 *
 * - `e<code>` evaluates a script; `m<path>` runs a module file; `?<bytes>`
 *   calls the worker's global `handleCommand`.
 * - The worker answers `.<meter JSON>\x01<reply>`, or `!<error>`, or asks us
 *   `?<bytes>` (its synchronous `issueCommand`), which we answer `/<bytes>`.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type { Readable, Writable } from "node:stream";

const require = createRequire(import.meta.url);

/** XS's own meters for one crank (one command, run until its jobs are done). */
export interface Meter {
	/** Metered computation: XS counts bytecodes and native work, not time. */
	compute: number;
	/** Bytes of chunk space the machine has allocated so far. */
	allocate: number;
	/** Slots in use on the heap. */
	currentHeapCount: number;
}

export interface Reply {
	bytes: Uint8Array;
	meter: Meter;
}

export interface XsWorkerOptions {
	/** Folder the worker runs in: bare module names resolve relative to it. */
	moduleRoot: string;
	/** Answers the worker's synchronous `issueCommand`. */
	onQuery?: (request: Uint8Array) => Uint8Array;
	/** The worker's `print` output, line by line. */
	onPrint?: (line: string) => void;
	debugBuild?: boolean;
}

/** `$XSNAP_WORKER` when set (not ROOM1_…: npm start reads those as config keys), else the bundled XS 13.3 worker. */
export function workerBinary(debugBuild = false): string {
	const chosen = process.env.XSNAP_WORKER;
	if (chosen) {
		// A wrong path would otherwise surface as a spawn error far from its cause.
		if (!fs.existsSync(chosen)) throw new Error(`XSNAP_WORKER: no such file: ${chosen}`);
		return chosen;
	}
	const pkg = path.dirname(require.resolve("@agoric/xsnap/package.json"));
	return path.join(pkg, "xsnap-native", "xsnap", "build", "bin", "lin", debugBuild ? "debug" : "release", "xsnap-worker");
}

const versions = new Map<string, string>();

/** The XS version a worker binary was built with, from its `-v` banner: `xsnap 0.15.0 (XS 17.7.0)`. */
export function workerXsVersion(binary = workerBinary()): string {
	let version = versions.get(binary);
	if (!version) {
		const banner = execFileSync(binary, ["-v"], { encoding: "utf8" });
		const match = /\(XS (\d+\.\d+\.\d+)\)/.exec(banner);
		if (!match) throw new Error(`${binary} -v printed no XS version: ${banner}`);
		version = match[1]!;
		versions.set(binary, version);
	}
	return version;
}

export class XsWorker {
	/** The binary this worker runs, and the XS version it was built with. */
	readonly binary: string;
	readonly xsVersion: string;
	readonly #process: ChildProcess;
	readonly #toWorker: Writable;
	readonly #options: XsWorkerOptions;
	#input: Buffer = Buffer.alloc(0);
	#pending: { resolve(reply: Reply): void; reject(error: Error): void }[] = [];
	#exited: Error | undefined;
	#printed = "";

	constructor(options: XsWorkerOptions) {
		this.#options = options;
		this.binary = workerBinary(options.debugBuild);
		this.xsVersion = workerXsVersion(this.binary);
		// -l 0: no crank limit; metering stays on so every reply carries its meters.
		this.#process = spawn(this.binary, ["room1-xs", "-l", "0"], {
			cwd: options.moduleRoot,
			stdio: ["ignore", "pipe", "inherit", "pipe", "pipe"],
			// Its own process group: Ctrl-C goes to Node, which shuts the firmware
			// down in order. The worker still exits when its pipes close.
			detached: true,
		});
		this.#toWorker = this.#process.stdio[3] as Writable;
		(this.#process.stdio[4] as Readable).on("data", (chunk: Buffer) => this.#receive(chunk));
		// A dying worker resets its pipes; the exit handler reports it.
		this.#toWorker.on("error", () => {});
		(this.#process.stdio[4] as Readable).on("error", () => {});
		(this.#process.stdout as Readable).on("data", (chunk: Buffer) => this.#print(chunk));
		this.#process.on("exit", (code, signal) => {
			this.#exited = new Error(`XS worker exited (${signal ?? `code ${code}`})`);
			for (const waiter of this.#pending.splice(0)) waiter.reject(this.#exited);
		});
	}

	/** Evaluates a script in the worker's global scope. */
	evaluate(code: string): Promise<Reply> {
		return this.#send(Buffer.from("e" + code));
	}

	/** Runs a module by its manifest name (resolved inside `moduleRoot`). */
	runModule(name: string): Promise<Reply> {
		return this.#send(Buffer.from("m" + name));
	}

	/** Calls the worker's `handleCommand(ArrayBuffer)`. */
	command(bytes: Uint8Array): Promise<Reply> {
		return this.#send(Buffer.concat([Buffer.from("?"), bytes]));
	}

	async close(): Promise<void> {
		if (this.#exited) return;
		const exited = new Promise((resolve) => this.#process.once("exit", resolve));
		this.#toWorker.end();
		await exited;
	}

	#send(message: Buffer): Promise<Reply> {
		if (this.#exited) return Promise.reject(this.#exited);
		return new Promise((resolve, reject) => {
			this.#pending.push({ resolve, reject });
			this.#writeNetstring(message);
		});
	}

	#writeNetstring(message: Buffer): void {
		this.#toWorker.write(Buffer.concat([Buffer.from(`${message.length}:`), message, Buffer.from(",")]));
	}

	#receive(chunk: Buffer): void {
		this.#input = this.#input.length ? Buffer.concat([this.#input, chunk]) : chunk;
		for (;;) {
			const colon = this.#input.indexOf(0x3a);
			if (colon < 0) return;
			const length = Number(this.#input.subarray(0, colon).toString("latin1"));
			const end = colon + 1 + length;
			if (this.#input.length < end + 1) return;
			const message = this.#input.subarray(colon + 1, end);
			this.#input = this.#input.subarray(end + 1);
			this.#dispatch(message);
		}
	}

	#dispatch(message: Buffer): void {
		const kind = message[0];
		if (kind === 0x3f /* ? */) {
			const answer = this.#options.onQuery?.(message.subarray(1)) ?? new Uint8Array(0);
			this.#writeNetstring(Buffer.concat([Buffer.from("/"), answer]));
			return;
		}
		const waiter = this.#pending.shift();
		if (!waiter) throw new Error(`XS worker sent an unexpected message: ${message.toString("latin1", 0, 40)}`);
		if (kind === 0x2e /* . */) {
			const separator = message.indexOf(1);
			const meter = separator > 0 ? JSON.parse(message.subarray(1, separator).toString()) as Meter : { compute: 0, allocate: 0, currentHeapCount: 0 };
			waiter.resolve({ bytes: new Uint8Array(message.subarray(separator > 0 ? separator + 1 : 1)), meter });
		} else if (kind === 0x21 /* ! */) {
			waiter.reject(new Error(`XS: ${message.subarray(1).toString()}`));
		} else {
			waiter.reject(new Error(`XS worker protocol error: ${message.toString("latin1", 0, 40)}`));
		}
	}

	#print(chunk: Buffer): void {
		this.#printed += chunk.toString();
		let newline;
		while ((newline = this.#printed.indexOf("\n")) >= 0) {
			const line = this.#printed.slice(0, newline);
			this.#printed = this.#printed.slice(newline + 1);
			if (this.#options.onPrint) this.#options.onPrint(line);
			else process.stdout.write(line + "\n");
		}
	}
}
