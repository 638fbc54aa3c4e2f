/*
 * One firmware, two host simulators: a scenario written against
 * `RunningFirmware` runs unchanged on the Node host and on the XS host
 * simulator (the real engine), against the same simulated board.
 */
import fs from "node:fs";
import path from "node:path";
import type { FirmwareHandle } from "platform";
import { parseConfig } from "config";
import { startFirmware } from "firmware/app";
import { Board, type BoardOptions } from "../../hosts/simulated-board/board.js";
import { createNodeHost } from "../../hosts/node/host.js";
import { XsSimulator } from "../../hosts/xsnap/node-side.js";
import { projectRoot } from "../../hosts/xsnap/paths.js";

export type HostKind = "node" | "xs";
export const hostKinds: readonly HostKind[] = ["node", "xs"];

export interface RunningFirmware {
	readonly kind: HostKind;
	readonly board: Board;
	/** Resolves once the firmware has handled everything sent to it so far. */
	idle(): Promise<void>;
	status(): Promise<Record<string, unknown> | null>;
	shutdown(): Promise<void>;
	close(): Promise<void>;
}

/** The manifest's config block: the device's defaults, as flat strings. */
export function manifestConfig(): Record<string, string> {
	const manifest = JSON.parse(fs.readFileSync(path.join(projectRoot, "manifest.json"), "utf8")) as { config: Record<string, string> };
	return { ...manifest.config };
}

export async function runFirmware(kind: HostKind, overrides: Record<string, string>, board = new Board()): Promise<RunningFirmware> {
	const config = { ...manifestConfig(), ssid: "simulator", sensor: "simulated", ...overrides };
	if (kind === "xs") {
		const simulator = await XsSimulator.start({ board, config });
		return {
			kind,
			board,
			idle: () => simulator.idle(),
			status: () => simulator.status(),
			shutdown: () => simulator.shutdown(),
			close: () => simulator.close(),
		};
	}
	const handle: FirmwareHandle = startFirmware(createNodeHost(board), parseConfig(config));
	return {
		kind,
		board,
		idle: async () => {},
		status: async () => handle.status(),
		shutdown: async () => handle.shutdown(),
		close: async () => {
			board.powerOff();
		},
	};
}

export function newBoard(options: BoardOptions = {}): Board {
	return new Board(options);
}
