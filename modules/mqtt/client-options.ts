/*
 * What an application gives MqttClient (mqtt/client) and what it gets
 * back: the options, the publish options, and the client's states. Types
 * only.
 */
import type { Host, TlsOptions } from "platform";
import type { QoS } from "mqtt/packets";
import type { InboundMessage } from "mqtt/routes";
import type { SessionErrorKind } from "mqtt/session-contract";
import type { OutboxOptions, PublishOutcome } from "mqtt/outbox";
import type { BackoffOptions } from "backoff";

export type SessionState =
	/** Not started. */
	| "idle"
	/** Transport opening, CONNECT sent, waiting for CONNACK. */
	| "connecting"
	| "connected"
	/** Between attempts, waiting out the backoff. */
	| "waiting"
	/** The link below (Wi-Fi) is down: no attempts until resumed. */
	| "suspended"
	/** DISCONNECT sent after stop(); no more attempts. */
	| "stopped";


export interface ClientOptions {
	host: Host;
	address: string;
	port: number;
	/** How a broker given by name is resolved; default: the network's servers, 5 s. */
	dns?: { servers: readonly string[]; timeout: number } | undefined;
	tls?: TlsOptions | undefined;
	clientId: string;
	/** Default false: a persistent session, so QoS 1/2 survive reconnects. */
	cleanSession?: boolean;
	/** Seconds; default 30. 0 turns keepalive off. */
	keepalive?: number;
	username?: string | undefined;
	password?: string | undefined;
	will?: { topic: string; payload: Uint8Array | string; qos: QoS; retain: boolean } | undefined;
	/** Published first after every CONNACK, before anything queued (e.g. "online"). */
	birth?: { topic: string; payload: Uint8Array | string; qos: QoS; retain: boolean } | undefined;
	/** ms; default 10,000. */
	connackTimeout?: number;
	/** ms; default 5,000. */
	pingTimeout?: number;
	/** Default: 1 s, doubling, to 60 s. */
	backoff?: Partial<BackoffOptions>;
	/**
	 * Default true: reconnect after every failure, with the backoff. False:
	 * one connection at a time, and the application decides; after a
	 * failure the state is "idle" and `start()` connects again.
	 */
	reconnect?: boolean;
	/** Default Math.random; inject a seeded one for reproducible tests. */
	random?: () => number;
	/** Default 100 messages, 16 KiB, drop-oldest. */
	outbox?: Partial<OutboxOptions>;
	/** Default 10. */
	maxInflight?: number;
	/** Default 32. */
	maxInboundPending?: number;
	/** Largest inbound packet, in bytes; default 4,096. */
	maxPacketSize?: number;
	/** Longest inbound topic, in bytes; default 65,535 (MQTT's own limit). */
	maxTopicBytes?: number;
	/** Default "skip": report an oversized packet and keep the connection. */
	oversize?: "skip" | "close";

	onStateChange?(state: SessionState, reason: string): void;
	onConnect?(info: { sessionPresent: boolean }): void;
	/** The broker's name was resolved; the attempt connects to `address` next. */
	onResolved?(name: string, address: string): void;
	/** Every inbound message, after any subscription handler. */
	onMessage?(message: InboundMessage): void;
	onError?(kind: SessionErrorKind, message: string): void;
	/**
	 * An inbound message not delivered for a limit (maxPacketSize,
	 * maxTopicBytes), after onError; acknowledged all the same. `topic` says
	 * whose it was (undefined when the topic itself was over the limit), so
	 * an application can report a command it refused unread.
	 */
	onSkipped?(info: { topic: string | undefined; reason: string }): void;
}

export interface PublishOptions {
	qos?: QoS;
	retain?: boolean;
	/**
	 * Last value wins: the message is a state (an LED's on/off), and a newer
	 * one to the same topic replaces it while it still waits in the outbox,
	 * so a burst of changes takes one place and never evicts other messages.
	 * Once written, it keeps its QoS flow.
	 */
	supersede?: boolean;
	/**
	 * Told, once, what became of the message: "written" (QoS 0, handed to
	 * the socket), "acknowledged" (QoS 1 PUBACK, QoS 2 PUBCOMP), "dropped"
	 * (by the outbox's policy), "superseded" (by a newer value), or
	 * "abandoned" (still waiting or in flight at stop()).
	 */
	onOutcome?: (outcome: PublishOutcome) => void;
}
