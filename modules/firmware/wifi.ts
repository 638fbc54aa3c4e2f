/*
 * The Wi-Fi manager: connects with the configured credentials, notices a
 * drop, and reconnects with backoff, for ever. Neither of Moddable's Wi-Fi
 * APIs reconnects by itself, and Moddable's setup/network gives up on the
 * app if the first connection fails; this replaces both. MQTT listens to
 * `onChange` and waits while the link is down.
 */
import type { Host, TimerHandle, WifiEvent } from "platform";
import { Backoff } from "backoff";

export type WifiState = "idle" | "connecting" | "connected" | "waiting";

export interface WifiManagerOptions {
	host: Host;
	ssid: string;
	password: string;
	/** ms to wait for an IP address before giving the attempt up. */
	connectTimeout: number;
	backoff: { minimum: number; maximum: number; factor: number };
	random?: () => number;
	onChange(state: WifiState, reason: string): void;
}

export class WifiManager {
	readonly backoff: Backoff;
	/** Successful connections (IP address obtained), and losses after one. */
	connects = 0;
	drops = 0;
	readonly #options: WifiManagerOptions;
	readonly #host: Host;
	#state: WifiState = "idle";
	#timer: TimerHandle | undefined;
	#attempt = 0;

	constructor(options: WifiManagerOptions) {
		this.#options = options;
		this.#host = options.host;
		this.backoff = new Backoff(options.backoff, options.random ?? Math.random);
	}

	get state(): WifiState {
		return this.#state;
	}

	start(): void {
		if (this.#state === "idle") this.#connect();
	}

	stop(): void {
		this.#clearTimer();
		this.#attempt++;
		this.#host.wifi.disconnect();
		this.#set("idle", "stopped");
	}

	#connect(): void {
		this.#clearTimer();
		const attempt = ++this.#attempt;
		this.#set("connecting", `joining "${this.#options.ssid}"`);
		this.#timer = this.#host.timers.set(() => {
			this.#timer = undefined;
			if (attempt === this.#attempt) this.#fail(`no IP address within ${this.#options.connectTimeout} ms`);
		}, this.#options.connectTimeout);
		// Events of an attempt we gave up on must not move the state.
		this.#host.wifi.connect(this.#options.ssid, this.#options.password, (event) => {
			if (attempt === this.#attempt) this.#event(event);
		});
	}

	#event(event: WifiEvent): void {
		if (event === "gotIP") {
			if (this.#state === "connected") return;
			this.#clearTimer();
			this.backoff.reset();
			this.connects++;
			this.#set("connected", "got an IP address");
		} else if (event === "disconnect" || event === "lostIP") {
			if (this.#state === "connected") this.drops++;
			if (this.#state === "connected" || this.#state === "connecting") this.#fail(event === "lostIP" ? "lost the IP address" : "disconnected from the access point");
		}
	}

	#fail(reason: string): void {
		this.#clearTimer();
		this.#attempt++;
		this.#host.wifi.disconnect();
		const delay = this.backoff.next();
		this.#set("waiting", `${reason}; retrying in ${delay} ms`);
		this.#timer = this.#host.timers.set(() => {
			this.#timer = undefined;
			this.#connect();
		}, delay);
	}

	#set(state: WifiState, reason: string): void {
		if (state === this.#state && state !== "waiting") return;
		this.#state = state;
		this.#options.onChange(state, reason);
	}

	#clearTimer(): void {
		if (this.#timer !== undefined) this.#host.timers.clear(this.#timer);
		this.#timer = undefined;
	}
}
