/*
 * The bounded outbox: publishes made while offline, or while the in-flight
 * window is full, wait here in order. It is bounded in messages and in
 * bytes, because an unbounded queue is how esp-mqtt devices run out of
 * memory during a long broker outage. When full, it either drops the
 * oldest message or rejects the new one, and counts what it lost.
 *
 * A message marked `supersede` is a state, not an event (an LED's on/off):
 * only its latest value matters. It replaces an earlier superseding message
 * to the same topic that is still waiting here (last value wins), so a
 * burst of state changes costs one place and never evicts a reading.
 * Messages already handed to the session keep their QoS flow.
 */
import type { PreparedTopic } from "mqtt/publish-buffers";

export type OutboxPolicy = "drop-oldest" | "reject-new";

/**
 * What became of a published message: written to the socket (QoS 0),
 * acknowledged (QoS 1 PUBACK, QoS 2 PUBCOMP), dropped by the outbox's
 * policy, replaced by a newer value (supersede), or abandoned at stop.
 */
export type PublishOutcome = "written" | "acknowledged" | "dropped" | "superseded" | "abandoned";

export interface OutboxOptions {
	maxMessages: number;
	maxBytes: number;
	policy: OutboxPolicy;
}

export interface QueuedPublish {
	/** The topic, already UTF-8 encoded and validated, with its buffer for small PUBLISHes. */
	topic: PreparedTopic;
	topicText: string;
	payload: Uint8Array;
	qos: 0 | 1 | 2;
	retain: boolean;
	/** Encoded size, which is what the byte limit counts. */
	size: number;
	/** A newer message to the same topic replaces this one while it waits. */
	supersede?: boolean;
	/** Told the message's outcome, once. */
	onOutcome?: ((outcome: PublishOutcome) => void) | undefined;
}

/** Tells a message's callback its outcome, once; a callback that throws is the application's, and is swallowed here. */
export function settle(item: QueuedPublish, outcome: PublishOutcome): void {
	const onOutcome = item.onOutcome;
	if (onOutcome === undefined) return;
	item.onOutcome = undefined;
	try {
		onOutcome(outcome);
	} catch {
		// An application callback may not break the client.
	}
}

export class Outbox {
	readonly options: OutboxOptions;
	/** Messages dropped to make room (drop-oldest). */
	droppedOldest = 0;
	/** Messages refused because the outbox was full (reject-new). */
	rejectedNew = 0;
	/** Messages replaced by a newer value for their topic, by design: not a loss. */
	superseded = 0;
	#items: (QueuedPublish | undefined)[] = [];
	#head = 0;
	#bytes = 0;

	constructor(options: OutboxOptions) {
		if (!(Number.isInteger(options.maxMessages) && options.maxMessages >= 1)) throw new RangeError(`outbox maxMessages must be an integer >= 1, got ${options.maxMessages}`);
		if (!(options.maxBytes >= 1)) throw new RangeError(`outbox maxBytes must be >= 1, got ${options.maxBytes}`);
		if (options.policy !== "drop-oldest" && options.policy !== "reject-new") throw new TypeError(`outbox policy must be "drop-oldest" or "reject-new", got ${String(options.policy)}`);
		this.options = options;
	}

	/** Messages waiting: a field, not a getter, because the publish hot path reads it. */
	length = 0;

	get bytes(): number {
		return this.#bytes;
	}

	/** Adds a message; returns false when it was refused (reject-new, or larger than the whole outbox). */
	push(item: QueuedPublish): boolean {
		const { maxMessages, maxBytes, policy } = this.options;
		if (item.size > maxBytes) {
			this.rejectedNew++;
			settle(item, "dropped");
			return false;
		}
		if (item.supersede) this.#supersede(item.topicText);
		while (this.length >= maxMessages || this.#bytes + item.size > maxBytes) {
			if (policy === "reject-new") {
				this.rejectedNew++;
				settle(item, "dropped");
				return false;
			}
			const dropped = this.shift();
			this.droppedOldest++;
			if (dropped !== undefined) settle(dropped, "dropped");
		}
		this.#items.push(item);
		this.#bytes += item.size;
		this.length++;
		return true;
	}

	/** Removes the waiting superseding message to `topic`, if there is one (there is never more than one). */
	#supersede(topic: string): void {
		const items = this.#items;
		for (let i = this.#head; i < items.length; i++) {
			const item = items[i];
			if (item !== undefined && item.supersede && item.topicText === topic) {
				if (i === this.#head) this.shift();
				else {
					items.splice(i, 1);
					this.#bytes -= item.size;
					this.length--;
				}
				this.superseded++;
				settle(item, "superseded");
				return;
			}
		}
	}

	peek(): QueuedPublish | undefined {
		return this.#items[this.#head];
	}

	shift(): QueuedPublish | undefined {
		const item = this.#items[this.#head];
		if (!item) return undefined;
		this.#items[this.#head++] = undefined;
		this.#bytes -= item.size;
		this.length--;
		// Compact now and then, so the array does not grow for ever.
		if (this.#head >= 32 && this.#head * 2 >= this.#items.length) {
			this.#items = this.#items.slice(this.#head);
			this.#head = 0;
		}
		return item;
	}

	/** Every message waiting, oldest first. */
	*[Symbol.iterator](): IterableIterator<QueuedPublish> {
		for (let i = this.#head; i < this.#items.length; i++) {
			const item = this.#items[i];
			if (item !== undefined) yield item;
		}
	}

	/** Puts messages back at the front, in order (in-flight messages after a clean session). */
	unshiftAll(items: QueuedPublish[]): void {
		const rest = this.#items.slice(this.#head);
		this.#items = [...items, ...rest] as (QueuedPublish | undefined)[];
		this.#head = 0;
		for (const item of items) this.#bytes += item.size;
		this.length += items.length;
	}
}
