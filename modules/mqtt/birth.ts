/*
 * The birth message: published first after every CONNACK, ahead of
 * anything queued (the will's opposite, "online"), so availability is right
 * before any data. Once per CONNACK: an earlier connection's, still
 * unacknowledged, is sent again in a resumed session (its flow must
 * complete) and serves as this one's; a new session drops it and sends a
 * fresh one.
 */
import type { Will } from "mqtt/packets";
import { publishSize } from "mqtt/codec";
import type { PublishBuffers } from "mqtt/publish-buffers";
import type { Inflight, InflightWindow } from "mqtt/inflight";
import type { QueuedPublish } from "mqtt/outbox";

export class Birth {
	readonly message: QueuedPublish;

	constructor(buffers: PublishBuffers, will: Will) {
		const { topic, payload, qos, retain } = will;
		const prepared = buffers.prepare(topic);
		this.message = { topic: prepared, topicText: topic, payload, qos, retain, size: publishSize(prepared.bytes.length, payload.length, qos) };
	}

	/** An in-flight entry is an earlier connection's birth message. */
	readonly isBirth = (entry: Inflight): boolean => entry.payload === this.message.payload && entry.topic === this.message.topic;

	/** CONNACK accepted: whether it is owed, as it is unless the resumed session still holds an earlier one in flight. */
	owed(sessionPresent: boolean, window: InflightWindow): boolean {
		return !(sessionPresent && window.entries.some(this.isBirth));
	}
}
