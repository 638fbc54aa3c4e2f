/*
 * Inbound QoS: the acknowledgement each inbound PUBLISH gets, and exactly
 * once for QoS 2 (MQTT 4.3.3): a message is delivered at PUBLISH, its id
 * held until PUBREL, and a PUBLISH again with a held id is the broker's
 * retransmission, acknowledged again and not delivered again. It writes
 * nothing: acknowledgements are returned as control packets (type << 16 |
 * packet id) for the session's queue, as they go out after the delivery.
 */
import { PacketType } from "mqtt/packets";
import { UnreleasedIds } from "mqtt/unreleased";

/** `accept`'s answer when the broker holds more unreleased QoS 2 messages than the limit: hostile. */
export const overLimit = -1;

export class InboundAcks {
	readonly #unreleased: UnreleasedIds;

	constructor(maxPending: number) {
		this.#unreleased = new UnreleasedIds(maxPending);
	}

	get limit(): number {
		return this.#unreleased.limit;
	}

	/**
	 * A PUBLISH at `qos` arrived (delivered, or skipped for a limit of ours:
	 * acknowledged all the same, or it would hold one of the broker's
	 * in-flight slots for good). Answers the acknowledgement to queue after
	 * it: 0 for QoS 0; negated for a QoS 2 retransmission, which is not
	 * delivered again; `overLimit` past the bound of held ids.
	 */
	accept(qos: number, packetId: number): number {
		if (qos === 0) return 0;
		if (qos === 1) return (PacketType.Puback << 16) | packetId;
		const unreleased = this.#unreleased;
		if (unreleased.has(packetId)) return -((PacketType.Pubrec << 16) | packetId);
		return unreleased.hold(packetId) ? (PacketType.Pubrec << 16) | packetId : overLimit;
	}

	/** PUBREL: the message is complete; answers its PUBCOMP. */
	release(packetId: number): number {
		this.#unreleased.release(packetId);
		return (PacketType.Pubcomp << 16) | packetId;
	}

	/** A new session: the broker resends none of them (a resumed one resends them with DUP). */
	newSession(): void {
		this.#unreleased.clear();
	}
}
