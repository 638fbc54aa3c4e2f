/*
 * Firmware updates over the network (POST /api/update): the image streams
 * from the socket into the host's updater (Moddable's embedded:update on
 * the ESP32) chunk by chunk, never gathered in RAM. Its size is checked
 * against the OTA partition before a byte is written, its SHA-256 (when
 * the sender gives one) as it streams, and only then does complete()
 * switch the boot partition. Anything short of that (a refused chunk, a
 * wrong hash, a stall, a closed connection) aborts the image, and the
 * running firmware stays the one that boots. One upload at a time.
 */
import type { FirmwareImage, Host, Sha256 } from "platform";
import { errorResponse, jsonResponse, type HttpRequest, type HttpResponse } from "web/http";
import type { BodySink } from "web/server";

export type UpdateState = "idle" | "receiving" | "failed" | "complete";

export interface UpdateStatus {
	state: UpdateState;
	/** Bytes written so far, of `total`. */
	received: number;
	total: number;
	/** Why the last upload failed. */
	error: string | null;
}

/** ms between the answer to a complete upload and the restart, so the answer reaches the sender. */
export const restartDelay = 1000;


export class FirmwareUpdates {
	readonly #host: Pick<Host, "name" | "updater" | "sha256" | "timers" | "log">;
	#status: UpdateStatus = { state: "idle", received: 0, total: 0, error: null };

	constructor(host: Pick<Host, "name" | "updater" | "sha256" | "timers" | "log">) {
		this.#host = host;
	}

	get status(): UpdateStatus {
		return { ...this.#status };
	}

	/** Whether this host can take an image at all. */
	get available(): boolean {
		return this.#host.updater !== undefined;
	}

	/** Checks the request before a byte is written: the sink that takes the image, or the refusal. */
	begin(request: HttpRequest): BodySink | HttpResponse {
		const { updater } = this.#host;
		if (!updater) return errorResponse(501, `${this.#host.name} cannot update its firmware over the network: OTA needs embedded:update (ESP32)`);
		if (this.#status.state === "receiving") return errorResponse(409, `an update is already being received (${this.#status.received} of ${this.#status.total} bytes)`);
		if (this.#status.state === "complete") return errorResponse(409, "an update is complete: the device is restarting into it");
		const length = request.streamed ?? 0;
		if (length === 0) return errorResponse(400, "the image is empty");
		if (updater.capacity !== undefined && length > updater.capacity) {
			return errorResponse(413, `the image is ${length} bytes; the OTA partition holds ${updater.capacity}`);
		}
		const given = (request.headers["x-image-sha256"] ?? /(?:^|&)sha256=([^&]*)/.exec(request.query)?.[1])?.toLowerCase();
		if (given !== undefined && !/^[0-9a-f]{64}$/.test(given)) return errorResponse(400, "the SHA-256 must be 64 hex digits (X-Image-SHA256 header or ?sha256=)");
		if (given !== undefined && !this.#host.sha256) return errorResponse(501, `${this.#host.name} cannot compute SHA-256: send the image without one`);
		let image: FirmwareImage;
		try {
			image = updater.open(length);
		} catch (error) {
			return this.#fail(500, `cannot begin the update: ${(error as Error).message}`);
		}
		const digest = given !== undefined ? this.#host.sha256!() : undefined;
		this.#status = { state: "receiving", received: 0, total: length, error: null };
		this.#host.log("info", "update", `receiving a ${length}-byte image`, { sha256: given ?? "none" });
		return this.#sink(image, digest, given);
	}

	#sink(image: FirmwareImage, digest: Sha256 | undefined, expected: string | undefined): BodySink {
		let open = true;
		const close = (status: number, reason: string): HttpResponse => {
			if (open) image.abort();
			open = false;
			return this.#fail(status, reason);
		};
		return {
			write: (chunk) => {
				try {
					image.write(chunk);
				} catch (error) {
					return close(422, `the image was refused at byte ${this.#status.received}: ${(error as Error).message}; the running firmware stays`);
				}
				digest?.write(chunk);
				this.#status.received += chunk.length;
				return undefined;
			},
			end: () => {
				if (digest) {
					const actual = hex(digest.close());
					if (actual !== expected) return close(422, `SHA-256 mismatch: expected ${expected}, the image is ${actual}; the running firmware stays`);
				}
				open = false;
				try {
					image.complete();
				} catch (error) {
					image.abort();
					return this.#fail(422, `the image is not valid: ${(error as Error).message}; the running firmware stays`);
				}
				this.#status.state = "complete";
				this.#host.log("info", "update", `image of ${this.#status.total} bytes complete; restarting in ${restartDelay} ms`);
				this.#host.timers.set(() => this.#host.updater!.restart(), restartDelay);
				return jsonResponse(200, { updated: true, bytes: this.#status.total, verified: digest !== undefined, restarting: true });
			},
			abort: (reason) => {
				if (!open) return;
				open = false;
				image.abort();
				this.#fail(0, reason);
			},
		};
	}

	#fail(status: number, reason: string): HttpResponse {
		this.#status.state = "failed";
		this.#status.error = reason;
		this.#host.log("warn", "update", `update failed: ${reason}`);
		return errorResponse(status || 500, reason);
	}
}

function hex(bytes: Uint8Array): string {
	let out = "";
	for (const byte of bytes) out += (byte < 16 ? "0" : "") + byte.toString(16);
	return out;
}
