/*
 * The soak: the firmware on the XS host simulator, on a virtual clock,
 * against a real mosquitto, with a reading every second at QoS 1, an LED
 * command every minute and a broker drop every hour. After every census
 * period it records what the engine holds after a full garbage collection
 * (heap, timers, sockets) and what the Node side holds for it.
 *
 * `npm test` runs a few simulated hours (test/firmware-long-faults.test.ts);
 * `npm run soak` runs seven days (bench/soak.ts).
 */
import { VirtualRig } from "./virtual-rig.js";
import type { Mosquitto } from "./mosquitto.js";

export interface CensusRow {
	/** Simulated hours since boot. */
	hour: number;
	heapSlots: number;
	xsTimers: number;
	xsSockets: number;
	boardTimers: number;
	boardSockets: number;
	proxyConnections: number;
	published: number;
	delivered: number;
	duplicates: number;
	dropped: number;
	connects: number;
	ledCommands: number;
	/** Real seconds since the soak began. */
	realSeconds: number;
}

export interface SoakOptions {
	broker: Mosquitto;
	name: string;
	hours: number;
	/** Simulated hours between censuses. */
	censusEvery: number;
	onCensus?: (row: CensusRow) => void;
}

export interface SoakResult {
	rows: CensusRow[];
	missing: number[];
	outOfOrder: number;
	stalls: number;
	lastLedState: string | undefined;
	ledLevel: 0 | 1 | undefined;
	ledToggles: number;
}

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
	const began = performance.now();
	const rig = await VirtualRig.start({ broker: options.broker, name: options.name, keepReadings: false });
	const rows: CensusRow[] = [];
	let toggles = 0;
	try {
		for (let hour = 1; hour <= options.hours; hour++) {
			// A broker drop every hour: every connection reset, as a broker restart or a NAT timeout does.
			if (hour > 1) rig.proxy.resetAll();
			for (let minute = 0; minute < 60; minute++) {
				await rig.advance(60_000);
				await rig.ledCommand("toggle");
				toggles++;
			}
			if (hour % options.censusEvery === 0) {
				const census = await rig.census();
				const status = (await rig.simulator.status())!;
				const row: CensusRow = {
					hour, ...census,
					published: status.readings as number,
					delivered: rig.delivery.received - rig.delivery.duplicates,
					duplicates: rig.delivery.duplicates,
					dropped: status.dropped as number,
					connects: status.connects as number,
					ledCommands: status.ledCommands as number,
					realSeconds: Math.round((performance.now() - began) / 100) / 10,
				};
				rows.push(row);
				options.onCensus?.(row);
			}
		}
		const status = (await rig.simulator.status())!;
		await rig.until(() => rig.delivery.highest >= (status.readings as number), 10_000, "the last readings");
		return { rows, missing: rig.delivery.missing(), outOfOrder: rig.delivery.outOfOrder, stalls: rig.stalls, lastLedState: rig.lastLedState, ledLevel: rig.board.led.level, ledToggles: toggles };
	} finally {
		await rig.close();
	}
}
