/*
 * A fake of Moddable's embedded:update on the ESP32 (modules/io/update/esp32,
 * over esp_ota_*), with its limits: bytes go in order (append mode, no
 * offsets); esp_ota_write refuses a first byte that is not the app image
 * magic 0xE9 and anything past the partition; once closed or complete the
 * handle refuses everything ("already complete"); complete() is
 * esp_ota_end (which verifies the image) then esp_ota_set_boot_partition.
 * Only complete() changes what boots; close() is esp_ota_abort.
 */
import type { FirmwareImage, FirmwareUpdater, Sha256 } from "platform";
import { sha256 } from "test/lib/sha256";

export const imageMagic = 0xe9;

export class FakeUpdater implements FirmwareUpdater {
	/** The OTA partition's size (flash.open({path: "nextota"}).status().size); 1.5 MB on 4 MB boards. */
	capacity: number | undefined = 0x180000;
	/** The image esp_ota_end would find invalid (a bad checksum). */
	invalidImage = false;
	/** What boots next: "running", or the bytes of the image complete() switched to. */
	boot: "running" | Uint8Array = "running";
	opened = 0;
	aborted = 0;
	restarts = 0;
	/** The bytes of the image being written. */
	written: Uint8Array[] = [];
	/** The largest single write, to show the image was never gathered whole. */
	largestWrite = 0;

	open(byteLength: number): FirmwareImage {
		// update-esp32.c: byteLength past the partition is a RangeError before esp_ota_begin.
		if (this.capacity !== undefined && byteLength > this.capacity) throw new RangeError("invalid byteLength");
		this.opened++;
		this.written = [];
		let total = 0;
		let state: "open" | "closed" = "open";
		return {
			write: (bytes: Uint8Array): void => {
				if (state !== "open") throw new Error("already complete");
				if (total === 0 && bytes.length && bytes[0] !== imageMagic) throw new Error("write failed");
				if (this.capacity !== undefined && total + bytes.length > this.capacity) throw new Error("write failed");
				this.written.push(bytes.slice());
				this.largestWrite = Math.max(this.largestWrite, bytes.length);
				total += bytes.length;
			},
			complete: (): void => {
				if (state !== "open") throw new Error("already complete");
				state = "closed";
				if (this.invalidImage || total === 0) throw new Error("end failed");
				this.boot = join(this.written);
			},
			abort: (): void => {
				if (state === "open") this.aborted++;
				state = "closed";
			},
		};
	}

	restart(): void {
		this.restarts++;
	}
}

/** Moddable's crypt Digest("SHA256"), written in pieces. */
export function fakeSha256(): Sha256 {
	const parts: Uint8Array[] = [];
	return {
		write: (bytes) => void parts.push(bytes.slice()),
		close: () => sha256(join(parts)),
	};
}

function join(parts: Uint8Array[]): Uint8Array {
	const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
	let at = 0;
	for (const part of parts) {
		out.set(part, at);
		at += part.length;
	}
	return out;
}
