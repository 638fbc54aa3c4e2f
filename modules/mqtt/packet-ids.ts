/*
 * Packet ids (MQTT 2.3.1): one per QoS 1/2 message in flight and per
 * SUBSCRIBE/UNSUBSCRIBE awaiting its answer, never two alike at once. The
 * next id in turn is the answer unless one of those still holds it.
 */
import type { InflightWindow } from "mqtt/inflight";

/** Whoever else holds ids: the subscriptions' requests. */
export interface IdHolder {
	/** How many ids it holds; read on the hot path, so a field. */
	readonly heldIds: number;
	holds(id: number): boolean;
}

export class PacketIds {
	#next = 1;
	readonly #window: InflightWindow;
	readonly #others: IdHolder;

	constructor(window: InflightWindow, others: IdHolder) {
		this.#window = window;
		this.#others = others;
	}

	allocate(): number {
		const window = this.#window;
		const others = this.#others;
		// Nothing else holds an id: the next one is free.
		if (window.entries.length === 0 && others.heldIds === 0) {
			const id = this.#next;
			this.#next = id === 65535 ? 1 : id + 1;
			return id;
		}
		for (;;) {
			const id = this.#next;
			this.#next = id === 65535 ? 1 : id + 1;
			if (!others.holds(id) && !window.holds(id)) return id;
		}
	}
}
