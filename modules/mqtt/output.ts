/*
 * Output scheduling: what goes out next when the driver has room, in this
 * order: control packets (CONNECT, acknowledgements, SUBSCRIBE, PINGREQ),
 * the birth message, in-flight messages not yet sent on this connection
 * (replays after a reconnect, then those accepted while the window had
 * room), then the outbox; DISCONNECT last, after disconnect(). It keeps the
 * status the driver reads after each input (mqtt/session-contract).
 */
import { disconnectPacket, encodeAckInto } from "mqtt/codec";
import type { Birth } from "mqtt/birth";
import type { Outbound } from "mqtt/outbound";
import { settle, type Outbox } from "mqtt/outbox";
import type { SessionStatus } from "mqtt/session-contract";

/**
 * A queued control packet: bytes, or an acknowledgement as its type and
 * packet id in one number (type << 16 | id), so that queueing one allocates
 * nothing and it is encoded only when the transport has room.
 */
export type ControlPacket = Uint8Array | number;

export class Output implements SessionStatus {
	quiet = false;
	timeoutChanged = true;
	/** The birth message is owed on this connection: it goes next after the control packets. */
	birthDue = false;
	/** After disconnect(): DISCONNECT goes once what is owed has gone. */
	farewell = false;
	readonly #control: ControlPacket[] = [];
	/** Acknowledgements are encoded here, one at a time. */
	readonly #ack = new Uint8Array(4);
	readonly #outbound: Outbound;
	readonly #outbox: Outbox;
	readonly #birth: Birth | undefined;

	constructor(outbound: Outbound, outbox: Outbox, birth: Birth | undefined) {
		this.#outbound = outbound;
		this.#outbox = outbox;
		this.#birth = birth;
	}

	queue(packet: ControlPacket): void {
		this.#control.push(packet);
		this.quiet = false;
	}

	/** The connection ends: what it still owed goes with it (in-flight messages wait for the next one). */
	drop(): void {
		this.#control.length = 0;
		this.farewell = false;
		this.birthDue = false;
	}

	/**
	 * The next packet, or undefined when there is nothing (more) to send;
	 * `quiet` is set when the last of what there was goes.
	 */
	next(connected: boolean, now: number): Uint8Array | undefined {
		const control = this.#control;
		const outbound = this.#outbound;
		const window = outbound.window;
		const outbox = this.#outbox;
		const birth = this.#birth;
		let packet: Uint8Array | undefined;
		if (control.length > 0) {
			const item = control.shift()!;
			packet = typeof item === "number" ? encodeAckInto(this.#ack, item >> 16, item & 0xffff) : item;
		} else if (this.birthDue && birth !== undefined && (connected || this.farewell)) {
			this.birthDue = false;
			const message = birth.message;
			// Into the window at its end, the cursor left where it is: replays after a resume still follow.
			packet = message.qos === 0 ? outbound.sendQos0(message.topic, message.payload, message.retain, message.size) : outbound.send(window.add(message, outbound.ids.allocate()), now);
		} else if (connected || this.farewell) {
			const unsent = window.cursor < window.entries.length ? window.nextUnsent() : undefined;
			if (unsent !== undefined) {
				packet = outbound.send(unsent, now);
			} else if (connected) {
				const item = outbox.length === 0 ? undefined : outbox.peek();
				if (item !== undefined && (item.qos === 0 || window.entries.length < window.max)) {
					outbox.shift();
					if (item.qos !== 0) {
						packet = outbound.sendNew(item, now);
					} else {
						if (item.onOutcome !== undefined) settle(item, "written");
						packet = outbound.sendQos0(item.topic, item.payload, item.retain, item.size);
					}
				}
			} else {
				this.farewell = false;
				packet = disconnectPacket;
			}
		}
		if (packet === undefined) this.quiet = connected && outbox.length === 0;
		else if (connected && control.length === 0 && outbox.length === 0 && window.cursor >= window.entries.length && !this.birthDue) this.quiet = true;
		return packet;
	}
}
