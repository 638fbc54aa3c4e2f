/*
 * The outbound in-flight window: QoS 1/2 messages handed a packet id and
 * not yet completed, in publish order, and which of them still have to go
 * out on this connection (from `cursor` on). It outlives a connection: a
 * resumed session sends all of them again, in order, with DUP; a new
 * session knows none of them, so they go back to be published afresh.
 * What an acknowledgement means is the session's business (mqtt/session);
 * this keeps the entries and their order.
 */
import type { QueuedPublish } from "mqtt/outbox";
import type { PreparedTopic } from "mqtt/publish-buffers";

const noPayload = new Uint8Array(0);

export interface Inflight extends QueuedPublish {
	packetId: number;
	/** Waiting for PUBACK/PUBREC ("publish") or PUBCOMP ("release"). */
	phase: "publish" | "release";
	/** Handed to the transport on this connection. */
	sent: boolean;
	/** When it was last handed over; -1: never, so it goes without DUP. */
	sentAt: number;
}

/** The window's own view of itself: its methods move the cursor, which is read-only to everyone else. A type only: no call. */
type MovingCursor = { cursor: number };

export class InflightWindow {
	/** The entries, which only the window's methods change. */
	readonly #entries: Inflight[] = [];
	/** In publish order; the same array, read directly on the hot paths, as a call would cost more than the read. */
	readonly entries: readonly Inflight[] = this.#entries;
	/**
	 * Entries before it were handed over on this connection; from it on, some may not have been.
	 * Read directly on the output's every turn; only the window's methods move it, as `MovingCursor`.
	 */
	readonly cursor: number = 0;
	readonly max: number;
	/** Completed records, reused: a steady stream of QoS 1 messages allocates none. */
	readonly #free: Inflight[] = [];

	constructor(max: number) {
		if (!(Number.isInteger(max) && max >= 1 && max <= 65535)) throw new RangeError(`maxInflight must be 1-65535, got ${max}`);
		this.max = max;
	}

	/** A queued message joins, with its packet id, not yet sent. */
	add(item: QueuedPublish, packetId: number): Inflight {
		const entry = this.take(item.topic, item.topicText, item.payload, item.qos, item.retain, item.size, packetId);
		if (item.supersede === true) entry.supersede = true;
		entry.onOutcome = item.onOutcome;
		return entry;
	}

	/**
	 * A message joins, with its packet id, in a reused record when there is
	 * one. `sentAt` -1: not sent yet; else it is being handed over now, as
	 * the last of what this connection owes, so the cursor moves past it.
	 */
	take(topic: PreparedTopic, topicText: string, payload: Uint8Array, qos: 0 | 1 | 2, retain: boolean, size: number, packetId: number, sentAt = -1): Inflight {
		let entry = this.#free.pop();
		if (entry === undefined) {
			entry = { topic, topicText, payload, qos, retain, size, supersede: false, onOutcome: undefined, packetId, phase: "publish", sent: sentAt >= 0, sentAt };
		} else {
			entry.topic = topic;
			entry.topicText = topicText;
			entry.payload = payload;
			entry.qos = qos;
			entry.retain = retain;
			entry.size = size;
			entry.supersede = false;
			entry.onOutcome = undefined;
			entry.packetId = packetId;
			entry.phase = "publish";
			entry.sent = sentAt >= 0;
			entry.sentAt = sentAt;
		}
		const entries = this.#entries;
		entries.push(entry);
		if (sentAt >= 0) (this as MovingCursor).cursor = entries.length;
		return entry;
	}

	/** A completed record, once nothing refers to it any more, is kept for the next message. */
	release(entry: Inflight): void {
		// The payload is the application's: not held past completion.
		entry.payload = noPayload;
		entry.onOutcome = undefined;
		if (this.#free.length < this.max) this.#free.push(entry);
	}

	/** The next entry not yet handed over on this connection, in order. */
	nextUnsent(): Inflight | undefined {
		const entries = this.#entries;
		while (this.cursor < entries.length) {
			const entry = entries[(this as MovingCursor).cursor++]!;
			if (!entry.sent) return entry;
		}
		return undefined;
	}

	/** The state (a superseding message) to `topic` not yet handed over on this connection, if any. */
	unsentState(topic: string): Inflight | undefined {
		const entries = this.#entries;
		for (let index = this.cursor; index < entries.length; index++) {
			const entry = entries[index]!;
			if (!entry.sent && entry.supersede === true && entry.topicText === topic) return entry;
		}
		return undefined;
	}

	/** Where the entry with this id is, or -1. A plain loop: acks come in order, so this is almost always 0. */
	indexOf(packetId: number): number {
		const entries = this.#entries;
		for (let index = 0; index < entries.length; index++) if (entries[index]!.packetId === packetId) return index;
		return -1;
	}

	/** Completed: it leaves the window. */
	remove(index: number): void {
		if (index === 0) this.#entries.shift();
		else this.#entries.splice(index, 1);
		if (index < this.cursor) (this as MovingCursor).cursor--;
	}

	/** The oldest entry completed (acks come in order): it leaves the window. */
	removeOldest(): void {
		this.#entries.shift();
		if (this.cursor > 0) (this as MovingCursor).cursor--;
	}

	/** The newest entry is being handed over now, after every other one: the cursor moves past it. */
	sendingNewest(): void {
		(this as MovingCursor).cursor = this.#entries.length;
	}

	/** Whether an id is taken by an entry. */
	holds(id: number): boolean {
		const entries = this.#entries;
		if (entries.length === 0) return false;
		// Entries join only at the end, each with the next id, so every id in flight lies on
		// the arc from the first entry's id to the last one's: off it, no scan is needed.
		const first = entries[0]!.packetId;
		const last = entries[entries.length - 1]!.packetId;
		if (first <= last ? id < first || id > last : id < first && id > last) return false;
		for (const entry of entries) if (entry.packetId === id) return true;
		return false;
	}

	/** A resumed session: every entry goes again, in order (as DUP if it went before). */
	resend(): void {
		for (const entry of this.#entries) entry.sent = false;
		(this as MovingCursor).cursor = 0;
	}

	/**
	 * A new session: the broker knows none of them. The window empties; the
	 * messages not yet received by the broker (`keep` decides among them) are
	 * returned, to be published again as new messages.
	 */
	forget(keep: (entry: Inflight) => boolean): Inflight[] {
		const unfinished = this.#entries.filter((entry) => entry.phase === "publish" && keep(entry));
		for (const entry of unfinished) entry.sentAt = -1;
		this.#entries.length = 0;
		(this as MovingCursor).cursor = 0;
		return unfinished;
	}
}
