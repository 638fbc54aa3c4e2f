/*
 * Who the device is when nobody said: `room1-` and the last three bytes of
 * its MAC in hex, as ESPHome names a device (name_add_mac_suffix), so two
 * devices on one broker never share a client id. The simulators' radios
 * give a locally administered MAC of their own (from the machine and the
 * instance). The identity is the MQTT client id, the Home Assistant device
 * and the setup access point's name.
 *
 * A broker that gets a second CONNECT with a client id it already has
 * closes the older connection (MQTT-3.1.4-2), without a word: two devices
 * with one id knock each other off, each soon after its CONNACK.
 * TakeoverWatch notices that pattern, so the log can say what happens.
 */

/** Used only where the host has no MAC: not unique, and the log says so. */
export const fallbackIdentity = "room1-sensor";

/** `room1-` and the MAC's last three bytes, lower-case hex; undefined without a MAC. */
export function identityFromMac(mac: string | undefined): string | undefined {
	const digits = (mac ?? "").replace(/[^0-9a-fA-F]/g, "").toLowerCase();
	return digits.length === 12 ? `room1-${digits.slice(6)}` : undefined;
}

/** The identity, and where it came from (for the start-up log). */
export function deviceIdentity(configured: string, mac: string | undefined): { id: string; source: string } {
	if (configured) return { id: configured, source: "mqtt_client_id" };
	const fromMac = identityFromMac(mac);
	return fromMac ? { id: fromMac, source: `MAC ${mac}` } : { id: fallbackIdentity, source: "no MAC on this host: not unique, set mqtt_client_id" };
}

/** A name fit for DNS (mDNS `<name>.local`): lower-case letters, digits and inner hyphens, at most 63. */
export function hostLabel(identity: string): string {
	const label = identity.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 63).replace(/-+$/, "");
	return label || fallbackIdentity;
}

/** A connection that ends within this long of its CONNACK counts as cut short. */
export const takeoverWindow = 10000;
/** Cut short this many times in a row: another client has the same id. */
export const takeoverCount = 3;

export class TakeoverWatch {
	#connectedAt = -1;
	#short = 0;
	#reported = false;

	/** A CONNACK accepted the connection. */
	connected(now: number): void {
		this.#connectedAt = now;
	}

	/**
	 * The connection was lost from the far side (not stopped by us). True
	 * once per streak of short connections: the moment to say so.
	 */
	lost(now: number): boolean {
		if (this.#connectedAt < 0) return false;
		const lived = now - this.#connectedAt;
		this.#connectedAt = -1;
		if (lived >= takeoverWindow) {
			this.#short = 0;
			this.#reported = false;
			return false;
		}
		if (++this.#short < takeoverCount || this.#reported) return false;
		this.#reported = true;
		return true;
	}
}
