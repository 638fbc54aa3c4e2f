/*
 * The Wi-Fi manager: connects with the configured credentials, notices a
 * drop, and reconnects with backoff, for ever. Neither of Moddable's Wi-Fi
 * APIs reconnects by itself, and Moddable's setup/network gives up on the
 * app if the first connection fails; this replaces both. MQTT listens to
 * `onChange` and waits while the link is down.
 *
 * First boot and lost networks: with no ssid, or after `setupAfter` ms
 * without a network, it opens a setup access point (`<identity>-setup`,
 * e.g. room1-dbc020-setup) beside the station, so the web page can be reached to
 * give it a network while joining goes on; it closes the access point
 * once it has an IP address. A radio without AP mode only logs why.
 */
import type { Host, TimerHandle, WifiEvent } from "platform";
import { Backoff } from "backoff";

/** "setup": no network is configured; only the setup access point is up. */
export type WifiState = "idle" | "connecting" | "connected" | "waiting" | "setup";

export interface WifiManagerOptions {
	host: Host;
	ssid: string;
	password: string;
	/** ms to wait for an IP address before giving the attempt up. */
	connectTimeout: number;
	backoff: { minimum: number; maximum: number; factor: number };
	/** ms without a network before the setup access point opens; 0: never (it still opens when there is no ssid). */
	setupAfter?: number;
	/** The device's identity (firmware/identity): it names the setup access point. */
	identity: string;
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
	#setupTimer: TimerHandle | undefined;
	#accessPoint: string | undefined;

	constructor(options: WifiManagerOptions) {
		this.#options = options;
		this.#host = options.host;
		this.backoff = new Backoff(options.backoff, options.random ?? Math.random);
	}

	get state(): WifiState {
		return this.#state;
	}

	/** The setup access point's name while it is open. */
	get accessPoint(): string | undefined {
		return this.#accessPoint;
	}

	start(): void {
		if (this.#state !== "idle") return;
		if (!this.#options.ssid && this.#host.wifi.openAccessPoint) {
			this.#set("setup", "no network configured (ssid)");
			this.#openAccessPoint("no network is configured");
			return;
		}
		// Without AP mode (the simulators), the host's radio joins its own network, named or not.
		if (!this.#options.ssid) this.#openAccessPoint("no network is configured");
		this.#armSetup();
		this.#connect();
	}

	stop(): void {
		this.#clearTimer();
		this.#host.timers.clear(this.#setupTimer);
		this.#setupTimer = undefined;
		this.#closeAccessPoint("stopped");
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
			this.#host.timers.clear(this.#setupTimer);
			this.#setupTimer = undefined;
			this.backoff.reset();
			this.connects++;
			this.#set("connected", "got an IP address");
			this.#closeAccessPoint(`joined "${this.#options.ssid}"`);
		} else if (event === "disconnect" || event === "lostIP") {
			if (this.#state === "connected") {
				this.drops++;
				// The network is lost from now: the setup access point opens if it stays lost.
				this.#armSetup();
			}
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

	#armSetup(): void {
		const after = this.#options.setupAfter ?? 0;
		if (after <= 0 || this.#setupTimer !== undefined || this.#accessPoint !== undefined) return;
		this.#setupTimer = this.#host.timers.set(() => {
			this.#setupTimer = undefined;
			if (this.#state !== "connected") this.#openAccessPoint(`no network joined within ${after} ms`);
		}, after);
	}

	#openAccessPoint(why: string): void {
		const radio = this.#host.wifi;
		if (!radio.openAccessPoint) {
			this.#host.log("info", "wifi", `${why}, and ${this.#host.name} has no access-point mode: no setup network; configure it through the page on this host's own network or the build's config`);
			return;
		}
		const ssid = setupName(this.#options.identity);
		try {
			radio.openAccessPoint(ssid);
		} catch (error) {
			this.#host.log("error", "wifi", `cannot open the setup access point "${ssid}": ${(error as Error).message}`);
			return;
		}
		this.#accessPoint = ssid;
		this.#host.log("warn", "wifi", `${why}: setup access point "${ssid}" is open; join it and browse to http://192.168.4.1/`, { accessPoint: ssid });
	}

	#closeAccessPoint(why: string): void {
		if (this.#accessPoint === undefined) return;
		const ssid = this.#accessPoint;
		this.#accessPoint = undefined;
		try {
			this.#host.wifi.closeAccessPoint?.();
		} catch (error) {
			this.#host.log("error", "wifi", `cannot close the setup access point: ${(error as Error).message}`);
		}
		this.#host.log("info", "wifi", `${why}: setup access point "${ssid}" closed`);
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

/** `<identity>-setup`, within an SSID's 32 bytes: the identity tells two devices in setup apart. */
export function setupName(identity: string): string {
	return `${identity.slice(0, 26)}-setup`;
}
