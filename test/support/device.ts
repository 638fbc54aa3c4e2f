/*
 * The whole device (stored settings, firmware, web page) on either host
 * simulator, served from a free loopback port, with its flash in a file so
 * that a restart keeps the settings, as `preference` does on a board.
 */
import { startDevice } from "firmware/device";
import { Board } from "../../hosts/simulated-board/board.js";
import { createNodeHost } from "../../hosts/node/host.js";
import { XsSimulator } from "../../hosts/xsnap/node-side.js";
import { manifestConfig, type HostKind } from "../../tools/rigs/firmware.js";
import { waitFor } from "../../tools/rigs/wait.js";

export interface RunningDevice {
	readonly kind: HostKind;
	readonly board: Board;
	/** The page's base URL, without the trailing slash. */
	readonly url: string;
	/** False once the engine has exited (an XS abort on the XS host simulator). */
	running(): boolean;
	stop(): Promise<void>;
}

export async function runDevice(kind: HostKind, overrides: Record<string, string>, flashFile?: string): Promise<RunningDevice> {
	const board = new Board(flashFile ? { flashFile } : {});
	const config = { ...manifestConfig(), ssid: "simulator", sensor: "simulated", ...overrides };
	let stop: () => Promise<void>;
	let running = (): boolean => true;
	if (kind === "xs") {
		const simulator = await XsSimulator.start({ board, config });
		running = () => !simulator.exited;
		stop = async () => {
			await simulator.shutdown();
			await simulator.close();
		};
	} else {
		const device = startDevice(createNodeHost(board), config);
		stop = async () => {
			device.shutdown();
			board.powerOff();
		};
	}
	await waitFor(() => [...board.listeners].some((listener) => listener.url), 10000);
	const url = [...board.listeners][0]!.url!.replace(/\/$/, "");
	return { kind, board, url, running, stop };
}
