/*
 * Outbound QoS: what an in-flight message sends and what its
 * acknowledgements mean (PUBACK completes QoS 1; PUBREC moves QoS 2 on to
 * its PUBREL, PUBCOMP completes it). The window (mqtt/inflight) keeps the
 * messages and their order, the packet ids come from mqtt/packet-ids, the
 * bytes are written by mqtt/publish-buffers; this decides. A PUBREL is
 * returned as a control packet (type << 16 | id) for the session's queue.
 */
import { PacketType, type QoS } from "mqtt/packets";
import { encodeAckInto } from "mqtt/codec";
import { writeSmallPublish, type PreparedTopic, type PublishBuffers } from "mqtt/publish-buffers";
import type { InflightWindow, Inflight } from "mqtt/inflight";
import type { PacketIds } from "mqtt/packet-ids";
import { settle, type Outbox, type PublishOutcome, type QueuedPublish } from "mqtt/outbox";
import type { SessionStats } from "mqtt/session-contract";

/** A message as `unsent()` hands it over. */
export interface UnsentMessage {
	topic: string;
	payload: Uint8Array;
	qos: QoS;
	retain: boolean;
}

export class Outbound {
	/** Read directly on the hot paths, as a call would cost more than the reads. */
	readonly window: InflightWindow;
	readonly ids: PacketIds;
	readonly #buffers: PublishBuffers;
	readonly #stats: SessionStats;
	/** A PUBREL is encoded here. */
	readonly #ack = new Uint8Array(4);

	constructor(window: InflightWindow, ids: PacketIds, buffers: PublishBuffers, stats: SessionStats) {
		this.window = window;
		this.ids = ids;
		this.#buffers = buffers;
		this.#stats = stats;
	}

	/** A queued QoS 1/2 message joins the window with the next packet id, and goes now, after the rest. */
	sendNew(item: QueuedPublish, now: number): Uint8Array {
		const entry = this.window.add(item, this.ids.allocate());
		this.window.sendingNewest();
		return this.send(entry, now);
	}

	/** A QoS 0 message's PUBLISH, of `size` bytes. */
	sendQos0(topic: PreparedTopic, payload: Uint8Array, retain: boolean, size: number): Uint8Array {
		this.#stats.sent++;
		return this.#buffers.encode(topic.bytes, payload, 0, retain, false, 0, size);
	}

	/** An in-flight message handed over: its PUBLISH (DUP if it went out before), or its PUBREL. */
	send(entry: Inflight, now: number): Uint8Array {
		const dup = entry.sentAt >= 0;
		entry.sent = true;
		entry.sentAt = now;
		if (entry.phase === "release") return encodeAckInto(this.#ack, PacketType.Pubrel, entry.packetId);
		const stats = this.#stats;
		if (dup) stats.retransmitted++;
		stats.sent++;
		if (entry.size < 130) return writeSmallPublish(entry.topic, 0x30 | (dup ? 0x08 : 0) | (entry.qos << 1) | (entry.retain ? 1 : 0), entry.packetId, entry.payload, entry.size);
		return this.#buffers.encode(entry.topic.bytes, entry.payload, entry.qos, entry.retain, dup, entry.packetId, entry.size);
	}

	/**
	 * PUBACK, PUBREC or PUBCOMP for `packetId`, at `now`. Answers undefined
	 * (done; or late, for a message already completed, which is harmless), a
	 * PUBREL to queue, or the rule the broker broke.
	 */
	acknowledge(type: PacketType.Puback | PacketType.Pubrec | PacketType.Pubcomp, packetId: number, now: number): number | string | undefined {
		const window = this.window;
		// Acks come in order, so the first entry is almost always the one: no call for it.
		const first = window.entries[0];
		const index = first !== undefined && first.packetId === packetId ? 0 : window.indexOf(packetId);
		if (index < 0) return undefined;
		const entry = window.entries[index]!;
		if (type === PacketType.Pubrec) {
			if (entry.qos !== 2) return `PUBREC for QoS ${entry.qos} message ${packetId}`;
			if (entry.phase === "publish") this.#stats.lastRoundTrip = now - entry.sentAt;
			entry.phase = "release";
			return (PacketType.Pubrel << 16) | packetId;
		}
		if (type === PacketType.Puback) {
			if (entry.qos !== 1) return `PUBACK for QoS ${entry.qos} message ${packetId}`;
			this.#stats.lastRoundTrip = now - entry.sentAt;
		} else if (entry.phase !== "release") {
			return `PUBCOMP before PUBREC for message ${packetId}`;
		}
		// The flow is complete: the message leaves the window, and its record is reused.
		window.remove(index);
		if (entry.onOutcome !== undefined) settle(entry, "acknowledged");
		window.release(entry);
		return undefined;
	}

	/**
	 * A state (a superseding message) to `topic` still waits in the window,
	 * not yet sent on this connection: the new value replaces it (last value
	 * wins) and true is answered; else false.
	 */
	replaceState(topic: string, payload: Uint8Array, qos: QoS, retain: boolean, size: number, onOutcome: ((outcome: PublishOutcome) => void) | undefined): boolean {
		const earlier = this.window.unsentState(topic);
		if (earlier === undefined) return false;
		settle(earlier, "superseded");
		earlier.payload = payload;
		earlier.qos = qos;
		earlier.retain = retain;
		earlier.size = size;
		earlier.onOutcome = onOutcome;
		return true;
	}

	/** Every message the broker has not yet taken, oldest first: in flight awaiting PUBACK/PUBREC, then the outbox. */
	unsent(outbox: Outbox): UnsentMessage[] {
		const messages: UnsentMessage[] = [];
		for (const entry of this.window.entries) {
			if (entry.phase === "publish") messages.push({ topic: entry.topicText, payload: entry.payload, qos: entry.qos, retain: entry.retain });
		}
		for (const item of outbox) messages.push({ topic: item.topicText, payload: item.payload, qos: item.qos, retain: item.retain });
		return messages;
	}

	/** Every message waiting or in flight is told it was abandoned (they are kept). */
	abandonAll(outbox: Outbox): void {
		for (const entry of this.window.entries) settle(entry, "abandoned");
		for (const item of outbox) settle(item, "abandoned");
	}
}
