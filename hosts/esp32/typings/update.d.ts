// For `npm run typecheck`, which runs without the SDK: the subset of the
// declarations Moddable ships for OTA and digests ($(MODDABLE)/typings/
// embedded/update.d.ts, embedded/storage/flash.d.ts and crypt.d.ts).
// mcconfig's tsc uses those, so the manifest does not list this file.
declare module "embedded:storage/flash" {
	export interface Flash {
		close(): void;
		status(): { size: number; blockLength: number; blocks: number };
	}
	const FlashStorage: { open(options: { path: string; mode?: "r" | "r+" }): Flash };
	export default FlashStorage;
}

declare module "embedded:update" {
	import type { Flash } from "embedded:storage/flash";
	export interface Updater {
		close(): void;
		complete(): void;
		write(bytes: ArrayBufferLike | ArrayBufferView): void;
	}
	const Update: { open(options: { partition: Flash; mode?: "a" | "w"; byteLength?: number }): Updater };
	export default Update;
}

declare module "crypt" {
	export class Digest {
		constructor(type: "SHA256" | "SHA1" | "MD5" | "SHA224" | "SHA384" | "SHA512");
		write(message: string | ArrayBuffer): void;
		close(): ArrayBuffer;
	}
}

// mcconfig generates mc.ffi.d.ts from the manifest's "ffi" functions.
declare module "mc/ffi" {
	export default class FFI {
		esp_restart(): void;
	}
}
