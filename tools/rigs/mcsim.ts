/*
 * The firmware built by the real Moddable SDK for the desktop simulator
 * (`mcconfig -m -p lin`) and run in `mcsim` under Xvfb: the same
 * modules, XS build and ECMA-419 sockets a user gets from the README.
 *
 * The SDK is `$MODDABLE` when set, else the cache that
 * ../shared/moddable-sdk/setup.sh builds; `.ci/run` runs setup.sh and
 * exports MODDABLE. Without an SDK these tests are skipped, saying why.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { projectRoot } from "./xs.js";

const run = promisify(execFile);

/** The SDK folder with its Linux tools and mcsim built, or why there is none. */
export function findSdk(): { moddable: string } | { missing: string } {
	const candidates = process.env.MODDABLE ? [process.env.MODDABLE] : [path.join(os.homedir(), ".cache/moddable-sdk-8.2.3/moddable")];
	for (const moddable of candidates) {
		const bin = path.join(moddable, "build/bin/lin/release");
		if (["mcconfig", "mcsim", "xsc"].every((tool) => fs.existsSync(path.join(bin, tool)))) return { moddable };
	}
	return { missing: `no Moddable SDK with its Linux tools at ${candidates.join(", ")}: run ../shared/moddable-sdk/setup.sh, or set MODDABLE` };
}

/** Skips the suite, saying why, when there is no SDK or no Xvfb. */
export function requireSdk(context: Mocha.Context): string {
	const sdk = findSdk();
	if ("missing" in sdk) {
		console.log(`      (skipped: ${sdk.missing})`);
		context.skip();
	}
	if (!fs.existsSync("/usr/bin/xvfb-run")) {
		console.log("      (skipped: mcsim needs xvfb-run: apt-get install xvfb xauth)");
		context.skip();
	}
	return (sdk as { moddable: string }).moddable;
}

function sdkEnvironment(moddable: string): NodeJS.ProcessEnv {
	// mcconfig compiles .ts with the tsc on PATH: this project's TypeScript 6.
	return { ...process.env, MODDABLE: moddable, PATH: `${path.join(moddable, "build/bin/lin/release")}:${path.join(projectRoot, "node_modules/.bin")}:${process.env.PATH}` };
}

/** Where the simulator builds go: inside build/, so concurrent checkouts never share one. */
const outputDir = path.join(projectRoot, "build/moddable");

/**
 * `mcconfig -m -p lin` (`-i` if asked) with these config overrides, exactly as the README's
 * simulator command line; returns the path of the app's mc.so. Never `-d`:
 * a debug build starts xsbug and ends running simulators by name.
 */
export async function buildSimulatorApp(moddable: string, overrides: Record<string, string>, options: { instrument?: boolean; project?: string } = {}): Promise<string> {
	const project = options.project ?? projectRoot;
	// -i: an instrumented release build (still no xsbug); mcsim then prints an `instruments:` line every second.
	const args = ["-m", "-p", "lin", ...(options.instrument ? ["-i"] : []), "-o", outputDir, ...Object.entries(overrides).map(([key, value]) => `${key}=${value}`)];
	fs.mkdirSync(outputDir, { recursive: true });
	try {
		await run("mcconfig", args, { cwd: project, env: sdkEnvironment(moddable), maxBuffer: 64 << 20 });
	} catch (error) {
		const { stdout = "", stderr = "" } = error as { stdout?: string; stderr?: string };
		throw new Error(`mcconfig ${args.join(" ")} failed:\n${(stdout + stderr).split("\n").filter((line) => !line.startsWith("#")).slice(-30).join("\n")}`);
	}
	const app = path.join(outputDir, "bin/lin/mc", options.instrument ? "instrument" : "release", path.basename(project), "mc.so");
	if (!fs.existsSync(app)) throw new Error(`mcconfig succeeded but left no ${app}`);
	return app;
}

/**
 * buildSimulatorApp for a mocha test or hook: the first build after
 * `npm run build` compiles XS for lin (minutes on a busy machine), which is
 * not the firmware's time, so the build has 10 minutes of its own and the
 * caller's bound starts again after it.
 */
export async function buildSimulatorAppFor(context: Mocha.Context, moddable: string, overrides: Record<string, string>, options: { instrument?: boolean; project?: string } = {}): Promise<string> {
	const bound = context.timeout();
	context.timeout(600000);
	try {
		return await buildSimulatorApp(moddable, overrides, options);
	} finally {
		context.timeout(bound);
	}
}

/**
 * The `instruments:` lines an instrumented build (`-i`) prints every second,
 * each as values by name ("Network sockets", "Timers", "Slot used", ...);
 * only those after line `from` when given. Samples and trace() share
 * mcsim's stdout, so a sample after a line was taken after what it logs.
 */
export function instrumentSamples(lines: readonly string[], from = 0): Record<string, number>[] {
	const key = lines.find((line) => line.startsWith("instruments key: "));
	if (!key) return [];
	const names = key.slice("instruments key: ".length).split(",");
	return lines.slice(from).filter((line) => line.startsWith("instruments: ")).map((line) => {
		const values = line.slice("instruments: ".length).split(",").map(Number);
		return Object.fromEntries(names.map((name, i) => [name, values[i]!]));
	});
}

/** Every simulator still running, so that none outlives the test process. */
const live = new Set<ChildProcess>();
process.once("exit", () => {
	for (const child of live) {
		try {
			process.kill(-child.pid!, "SIGKILL");
		} catch {
			// Already gone.
		}
	}
});

/**
 * One running `mcsim`, its trace read line by line. It does not keep the
 * test process alive: a test that times out before its `after` hook kills
 * it leaves it to the exit handler above, and mocha still exits.
 */
export class Simulator {
	readonly lines: string[] = [];
	readonly #child: ChildProcess;
	readonly #exited: Promise<void>;
	#running = true;

	private constructor(child: ChildProcess) {
		this.#child = child;
		let partial = "";
		const take = (data: Buffer): void => {
			const text = partial + data.toString();
			const lines = text.split("\n");
			partial = lines.pop()!;
			for (const line of lines) this.lines.push(line.replace(/\r$/, ""));
		};
		child.stdout!.on("data", take);
		child.stderr!.on("data", take);
		live.add(child);
		child.unref();
		(child.stdout as unknown as { unref(): void }).unref();
		(child.stderr as unknown as { unref(): void }).unref();
		this.#exited = new Promise((resolve) => child.once("exit", () => {
			live.delete(child);
			this.#running = false;
			resolve();
		}));
	}

	/** Starts mcsim headless; a release build writes trace() to stdout. */
	static start(moddable: string, app: string): Simulator {
		const child = spawn("xvfb-run", ["-a", "stdbuf", "-oL", "mcsim", app], {
			env: sdkEnvironment(moddable), stdio: ["ignore", "pipe", "pipe"], detached: true,
		});
		return new Simulator(child);
	}

	get running(): boolean {
		return this.#running;
	}

	/** The trace, for a failure message. */
	get trace(): string {
		return this.lines.join("\n");
	}

	/** Ends this simulator and its Xvfb (its own process group), and nothing else. */
	async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
		if (!this.#running) return;
		try {
			process.kill(-this.#child.pid!, signal);
		} catch {
			// Already gone.
		}
		await this.#exited;
	}
}
