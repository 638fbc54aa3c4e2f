/*
 * Subscription routing: which application handler receives an inbound
 * message. Exact filters are found by one lookup; only filters with
 * wildcards are matched level by level, in subscription order. It also
 * names the exact topics the session's direct lane may deliver without
 * the layered path (see `directRoutes`).
 */
import type { QoS } from "mqtt/packets";
import { topicMatches } from "mqtt/topic";

export interface InboundMessage {
	topic: string;
	/** Valid during the delivery call only: copy it to keep it. */
	payload: Uint8Array;
	qos: QoS;
	retain: boolean;
	dup: boolean;
}

/** Receives the messages of one subscription. */
export type MessageHandler = (message: InboundMessage) => void;

/** An exact topic the direct lane delivers: its handler, and the message it is handed each time, at QoS 0 and at QoS 1. */
export interface DirectRoute {
	handler: MessageHandler;
	message: InboundMessage;
	acknowledged: InboundMessage;
}

/** A handler for a filter with wildcards, matched level by level. */
interface WildcardHandler {
	filter: string;
	handler: MessageHandler;
}

/** What the direct lane can check for itself; anything beyond takes the layered path. */
export interface DirectLimits {
	maxTopicBytes: number;
	maxPacketSize: number;
}

const noPayload = new Uint8Array(0);

export class Routes {
	readonly #exact = new Map<string, MessageHandler>();
	readonly #wildcards: WildcardHandler[] = [];
	/** Every message, after the subscriptions' handlers. */
	readonly #deliver: MessageHandler | undefined;

	constructor(deliver: MessageHandler | undefined) {
		this.#deliver = deliver;
	}

	/** Sets (or, with undefined, removes) the handler of one filter, replacing any it had. */
	set(filter: string, handler: MessageHandler | undefined): void {
		if (!filter.includes("+") && !filter.includes("#")) {
			if (handler) this.#exact.set(filter, handler);
			else this.#exact.delete(filter);
			return;
		}
		const wildcards = this.#wildcards;
		const index = wildcards.findIndex((entry) => entry.filter === filter);
		if (!handler) {
			if (index >= 0) wildcards.splice(index, 1);
		} else if (index >= 0) {
			wildcards[index]!.handler = handler;
		} else {
			wildcards.push({ filter, handler });
		}
	}

	/**
	 * The exact filter's handler, then matching wildcard handlers in
	 * subscription order, then `deliver`. A handler's exception propagates,
	 * and the rest are not called: the session reports it.
	 */
	dispatch(message: InboundMessage): void {
		const exact = this.#exact.get(message.topic);
		if (exact !== undefined) exact(message);
		const wildcards = this.#wildcards;
		for (let i = 0; i < wildcards.length; i++) {
			const entry = wildcards[i]!;
			if (topicMatches(entry.filter, message.topic)) entry.handler(message);
		}
		if (this.#deliver !== undefined) this.#deliver(message);
	}

	/**
	 * The topics the session's direct lane may take: an exact filter whose
	 * handler is the only recipient (no wildcard handler matches it, no
	 * `deliver` hook), within our limits, so that the layered path would
	 * deliver it unchecked. Each is keyed by the text of its bytes in the
	 * packet: the topic length (two bytes, 0 and the length) and the topic.
	 * Only ASCII topics of up to 125 bytes: every one of those bytes is one
	 * character, and so is each header byte before them, so text that equals
	 * a key was decoded from exactly the key's bytes at exactly that place,
	 * and the topic ends inside the packet. Undefined when there are none.
	 */
	directRoutes(limits: DirectLimits): Map<string, DirectRoute> | undefined {
		// The lane takes bodies up to 127 bytes: every one must be within the packet limit.
		if (this.#deliver !== undefined || limits.maxPacketSize < 2 + 127) return undefined;
		const routes = new Map<string, DirectRoute>();
		for (const [topic, handler] of this.#exact) {
			if (!/^[\x01-\x7f]{1,125}$/.test(topic) || topic.length > limits.maxTopicBytes) continue;
			if (this.#wildcards.some((entry) => topicMatches(entry.filter, topic))) continue;
			routes.set(`\u0000${String.fromCharCode(topic.length)}${topic}`, { handler, message: directMessageRecord(topic, 0), acknowledged: directMessageRecord(topic, 1) });
		}
		return routes.size > 0 ? routes : undefined;
	}
}

/**
 * A message the direct lane hands over for one topic at one QoS: reused
 * like the layered path's, only its payload changes, and it is never
 * retained nor a duplicate. Everything but the payload is read-only, so a
 * handler that writes to it cannot mislead the next delivery.
 */
function directMessageRecord(topic: string, qos: QoS): InboundMessage {
	const message = { payload: noPayload } as InboundMessage;
	const fixed = (value: unknown) => ({ value, enumerable: true });
	Object.defineProperties(message, { topic: fixed(topic), qos: fixed(qos), retain: fixed(false), dup: fixed(false) });
	return message;
}
