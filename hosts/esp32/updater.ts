/*
 * OTA on the ESP32 through Moddable's embedded:update (modules/io/update/
 * esp32 over esp_ota_*), as its httpserverota example does: the image goes
 * in order (append mode) into the next OTA partition, `nextota`
 * (esp_ota_get_next_update_partition); complete() is esp_ota_end, which
 * verifies the image, then esp_ota_set_boot_partition; close() before
 * that is esp_ota_abort, and the running firmware stays. The manifest's
 * `ota.autosplit` define splits the factory app partition into ota_0/ota_1.
 * SHA-256 through Moddable's crypt Digest; restart through esp_restart (FFI).
 */
import Update from "embedded:update";
import Flash from "embedded:storage/flash";
import { Digest } from "crypt";
import FFI from "mc/ffi";
import type { FirmwareImage, FirmwareUpdater, Sha256 } from "platform";

/** The next OTA partition's size, or undefined on a build without OTA partitions. */
function partitionSize(): number | undefined {
	try {
		const partition = Flash.open({ path: "nextota", mode: "r" });
		const { size } = partition.status();
		partition.close();
		return size;
	} catch {
		return undefined;
	}
}

export const updater: FirmwareUpdater = {
	get capacity(): number | undefined {
		return partitionSize();
	},
	open(byteLength: number): FirmwareImage {
		const partition = Flash.open({ path: "nextota" });
		// byteLength is checked against the partition (a RangeError past it) before esp_ota_begin erases anything.
		const update = Update.open({ partition, byteLength });
		let open = true;
		const close = (): void => {
			open = false;
			update.close();
			partition.close();
		};
		return {
			write: (bytes: Uint8Array): void => update.write(bytes),
			complete: (): void => {
				try {
					update.complete();
				} finally {
					close();
				}
			},
			abort: (): void => {
				if (open) close();
			},
		};
	},
	restart(): void {
		// Made here, not in the module body: the module is preloaded, where no native runs.
		new FFI().esp_restart();
	},
};

export function sha256(): Sha256 {
	const digest = new Digest("SHA256");
	return {
		write: (bytes: Uint8Array): void => {
			// Its C (xsmcGetBufferReadable) takes a view as well as an ArrayBuffer: no copy of the chunk.
			digest.write(bytes as unknown as ArrayBuffer);
		},
		close: (): Uint8Array => new Uint8Array(digest.close()),
	};
}
