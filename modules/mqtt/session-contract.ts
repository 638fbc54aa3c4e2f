/*
 * What a driver (mqtt/client) and the session (mqtt/session) promise each
 * other: the options, the effects the session raises, its counters, and the
 * status it leaves for the driver after each input. docs/client-library.md
 * has the table of calls: which the driver may make, when, and what each
 * returns. Types only, apart from the counters' starting values.
 */
import type { Will } from "mqtt/packets";
import type { InboundMessage } from "mqtt/routes";
import type { OutboxOptions } from "mqtt/outbox";
import type { Utf8Decoder } from "platform";

/** The one connection's state. */
export type ConnectionState =
	/** No connection. */
	| "idle"
	/** Transport opening, CONNECT sent, waiting for CONNACK. */
	| "connecting"
	| "connected"
	/** After disconnect(): what is owed goes out, DISCONNECT last, then the transport closes. */
	| "closing";

/** What went wrong, for logs and counters. */
export type SessionErrorKind = "protocol" | "oversize" | "refused" | "timeout" | "transport" | "subscription" | "limit" | "handler";

/**
 * What the session asks of its driver, from inside the call that raised it.
 * None of these may call back into the session: the driver notes the request
 * and acts, or tells the application, once that call has returned. The one
 * callback that may call in is a message's delivery (`deliver`, and the
 * handlers given to `subscribe`): it may publish, subscribe, unsubscribe,
 * disconnect or abort, and each of those only queues or changes state.
 */
export interface SessionEffects {
	/** Close the transport: nothing more is to be written on it. */
	closeTransport(reason: string): void;
	/**
	 * The connection failed (refused, timed out, a protocol error, the
	 * transport lost) and is closed. `atMaximum`: retrying soon cannot help
	 * (bad credentials, not authorised).
	 */
	failed(kind: SessionErrorKind, reason: string, atMaximum: boolean): void;
	/**
	 * Every inbound message, after its subscription handlers. One message
	 * object is reused for every delivery: copy what is kept.
	 */
	deliver?(message: InboundMessage): void;
	/**
	 * An inbound message was not delivered for a limit of ours (its size,
	 * its topic's length), after `error`: `topic` says whose it was
	 * (undefined if the topic itself was over the limit), so the
	 * application can report a command it never saw.
	 */
	skipped?(topic: string | undefined, reason: string): void;
	stateChanged(state: ConnectionState, reason: string): void;
	/** CONNACK accepted; everything it queued is queued already. */
	connected(sessionPresent: boolean): void;
	error(kind: SessionErrorKind, message: string): void;
}

export interface SessionOptions {
	clientId: string;
	cleanSession: boolean;
	/** Seconds; 0 turns keepalive (and dead-link detection) off. */
	keepalive: number;
	username?: string | undefined;
	password?: Uint8Array | undefined;
	will?: Will | undefined;
	/**
	 * Published first after every CONNACK, ahead of anything queued: the
	 * will's opposite ("online"), so availability is right before any data.
	 */
	birth?: Will | undefined;
	/** ms from opening the transport to CONNACK. */
	connackTimeout: number;
	/** ms to wait for PINGRESP. */
	pingTimeout: number;
	outbox: OutboxOptions;
	/** Outbound QoS 1/2 messages awaiting acknowledgement at once. */
	maxInflight: number;
	/** Inbound QoS 2 messages between PUBREC and PUBREL at once; a broker past this is hostile. */
	maxInboundPending: number;
	maxPacketSize: number;
	/** Longest inbound topic, bytes; a longer one is reported, acknowledged and not delivered. */
	maxTopicBytes?: number | undefined;
	oversize: "skip" | "close";
	/** The host's native UTF-8 decoder, if any: it makes inbound topics cheap. */
	utf8?: Utf8Decoder | undefined;
}

export interface SessionStats {
	/** Successful CONNACKs. */
	connects: number;
	/** Successful CONNACKs after the first. */
	reconnects: number;
	/** Connection attempts that failed (refused, timed out, transport error). */
	failedAttempts: number;
	/** PUBLISH packets sent, retransmissions included. */
	sent: number;
	retransmitted: number;
	/** PUBLISH packets received and delivered. */
	received: number;
	/** Inbound QoS 2 duplicates recognised and not delivered again. */
	duplicatesIgnored: number;
	/** Inbound messages not delivered for a limit (size, topic length), but acknowledged. */
	skipped: number;
	/** Outbox losses: dropped oldest, or rejected new. */
	dropped: number;
	protocolErrors: number;
	/** ms of the last PINGREQ→PINGRESP or PUBLISH→PUBACK/PUBREC. */
	lastRoundTrip: number | undefined;
}

export function newStats(): SessionStats {
	return {
		connects: 0, reconnects: 0, failedAttempts: 0, sent: 0, retransmitted: 0, received: 0, duplicatesIgnored: 0, skipped: 0,
		dropped: 0, protocolErrors: 0, lastRoundTrip: undefined,
	};
}

/**
 * What the driver reads after each input, to know what to ask for. Only the
 * session writes it (fields, not getters: the driver reads them after every
 * input, and a getter's call would cost more than the read).
 */
export interface SessionStatus {
	/**
	 * Connected, and `transmit()` is sure to have nothing: a new message may
	 * go straight out, and the driver need not ask.
	 */
	readonly quiet: boolean;
	/**
	 * A deadline may have come nearer, appeared or gone since the last
	 * `timeout()`, which clears it: the driver asks `timeout()` again. Sending
	 * moves the keepalive deadline only later, so a timer armed for the
	 * earlier time just wakes the session to find nothing due yet.
	 */
	readonly timeoutChanged: boolean;
}
