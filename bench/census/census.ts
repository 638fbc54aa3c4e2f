/*
 * A census of the firmware's XS heap: each part is made in turn, as
 * startDevice makes it, with a full collection and Moddable's
 * instrumentation before and after, so the difference is what that part
 * keeps alive. Built by `mcconfig -m -p lin -i` from this folder (the
 * project's manifest included, this module as main) and run in mcsim;
 * bench/moddable-ram.ts reads its `census:` lines. Not preloaded, so its
 * own cost is in every sample alike and cancels out.
 */
import Instrumentation from "instrumentation";
import Debug from "debug";
import config from "mc/config";
import { createHost } from "host";
import { Settings } from "web/settings";
import { firmwareVersion, startFirmware } from "firmware/app";
import { discoveryMessages } from "firmware/discovery";
import { deviceIdentity } from "firmware/identity";
import { HttpServer } from "web/server";
import { FirmwareUpdates } from "web/update";
import { route, type DeviceApi } from "web/api";

function used(): [number, number] {
	Debug.gc();
	return [Number(Instrumentation.get(Instrumentation.map("XS Slot Heap Used")!)), Number(Instrumentation.get(Instrumentation.map("XS Chunk Heap Used")!))];
}

const kept: unknown[] = [];

function part<T>(name: string, make: () => T): T {
	const [slotsBefore, chunksBefore] = used();
	const made = make();
	kept.push(made);
	const [slotsAfter, chunksAfter] = used();
	trace(`census: ${name},${(slotsAfter - slotsBefore) / 32},${chunksAfter - chunksBefore}\n`);
	return made;
}

export default function census(): void {
	const [slots, chunks] = used();
	trace(`census: before anything,${slots / 32},${chunks}\n`);
	const host = part("host object (createHost)", () => createHost());
	const settings = part("stored settings (Settings)", () => new Settings(config, host.settings));
	const parsed = part("parsed configuration (settings.config())", () => settings.config());
	part("Home Assistant discovery payloads", () => discoveryMessages(parsed, deviceIdentity(parsed.mqtt.clientId, host.wifi.mac?.()).id, firmwareVersion, host.diagnostics?.() ?? {}));
	const firmware = part("firmware: Wi-Fi manager, MQTT client, session, outbox, in-flight window, telemetry, LED", () => startFirmware(host, parsed));
	const updates = part("firmware updates (FirmwareUpdates)", () => new FirmwareUpdates(host));
	const api = { status: () => firmware.status(), password: () => "", beginUpdate: (request: never) => updates.begin(request) } as unknown as DeviceApi;
	part("web server listening (HttpServer)", () => new HttpServer({ host, port: 0, handle: (request) => route(request, api) }));
	const [slotsAll, chunksAll] = used();
	trace(`census: all,${slotsAll / 32},${chunksAll}\n`);
}
