/*
 * Inbound QoS 2, exactly once (MQTT 4.3.3): the ids of messages delivered
 * at PUBLISH whose PUBREL has not come yet. A PUBLISH again with one of
 * them is the broker's retransmission, acknowledged and not delivered
 * again. They outlive a connection: a resumed session re-sends those
 * PUBLISHes with DUP; only a new session forgets them. Bounded, since a
 * broker that never releases would otherwise grow them for good.
 */
export class UnreleasedIds {
	readonly #ids = new Set<number>();
	readonly #limit: number;

	constructor(limit: number) {
		this.#limit = limit;
	}

	get limit(): number {
		return this.#limit;
	}

	/** Delivered before, and not yet released: a retransmission. */
	has(packetId: number): boolean {
		return this.#ids.has(packetId);
	}

	/** Remembers an id until its PUBREL; false, remembering nothing, past the limit. */
	hold(packetId: number): boolean {
		const ids = this.#ids;
		if (!ids.has(packetId) && ids.size >= this.#limit) return false;
		ids.add(packetId);
		return true;
	}

	/** PUBREL: the message is complete. */
	release(packetId: number): void {
		this.#ids.delete(packetId);
	}

	/** A new session: the broker keeps none of them. */
	clear(): void {
		this.#ids.clear();
	}
}
