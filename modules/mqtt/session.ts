/*
 * The MQTT session state machine (layer 3), sans-I/O in the manner of h11
 * and quinn-proto: it owns no socket and no clock. It is fed events, each
 * with the current time. Its output is pulled, as quinn-proto's
 * poll_transmit and poll_timeout are: after each input the driver asks
 * `transmit()` for the next packet, only while its socket has room, and
 * `timeout()` for the one time it next wants to be woken. So nothing is
 * written from inside its own dispatch, and what the socket cannot take yet
 * waits here, bounded by the outbox and the in-flight window. Effects tell
 * the driver to open or close a transport and report messages, states and
 * errors. One wake-up time instead of a timer per rule keeps a device to a
 * single armed timer; the rules are mqtt/deadlines'.
 *
 * It keeps the session's state across connections (in-flight messages,
 * subscriptions, the outbox), but one connection at a time: when one
 * fails it says so (`failed`), and when to try again is the driver's
 * business, as lwmqtt and quinn-proto leave it (mqtt/client supervises).
 */
import { PacketType, connackCodeNames, type Packet, type QoS, type Will } from "mqtt/packets";
import {
	disconnectPacket, encode, encodeAckInto, packetTypeName, pingreqPacket, publishSize, smallPublishBuffer, type InboundPublish,
} from "mqtt/codec";
import { PacketParser, type SkipReason } from "mqtt/parser";
import type { DirectRoute, InboundMessage, MessageHandler, Routes } from "mqtt/routes";
import { Subscriptions } from "mqtt/subscriptions";
import { Deadlines, Due } from "mqtt/deadlines";
import { PublishBuffers, writeSmallPublish, type PreparedTopic } from "mqtt/publish-buffers";
import { UnreleasedIds } from "mqtt/unreleased";
import { InflightWindow, type Inflight } from "mqtt/inflight";
import { Outbox, settle, type OutboxOptions, type PublishOutcome, type QueuedPublish } from "mqtt/outbox";
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

export type { InboundMessage, MessageHandler };

/**
 * What the session asks of its driver. None of these may call back into the
 * session: the driver notes the request and acts once the call that raised
 * it has returned.
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

/**
 * A queued control packet: bytes, or an acknowledgement as its type and
 * packet id in one number (type << 16 | id), so that queueing one allocates
 * nothing and it is encoded only when the transport has room.
 */
type ControlPacket = Uint8Array | number;

export class Session {
	readonly options: SessionOptions;
	readonly outbox: Outbox;
	readonly stats: SessionStats = {
		connects: 0, reconnects: 0, failedAttempts: 0, sent: 0, retransmitted: 0, received: 0, duplicatesIgnored: 0, skipped: 0,
		dropped: 0, protocolErrors: 0, lastRoundTrip: undefined,
	};
	// The hot paths' fields first.
	// The direct lane (see `receive`): connected, and the parser holds no partial packet.
	#laneOpen = false;
	// Its exact topics whose handler is a message's only recipient; undefined when none.
	#directRoutes: Map<string, DirectRoute> | undefined;
	// Where outbound PUBLISH bytes are written, and its topics, encoded once (read directly on the hot path).
	readonly #buffers = new PublishBuffers();
	readonly #topics: Map<string, PreparedTopic> = this.#buffers.topics;
	/**
	 * Connected, and transmit() is sure to have nothing: a new message may go
	 * straight out, and the driver need not ask. A field, not a getter, as
	 * the driver reads it after every input; only the session writes it.
	 */
	quiet = false;
	#lastSent = 0;
	#lastReceived = 0;
	readonly #effects: SessionEffects;
	readonly #parser: PacketParser;
	#state: ConnectionState = "idle";
	#now = 0;
	#transportOpen = false;
	/** CONNECT, encoded once: the options never change. */
	readonly #connectBytes: Uint8Array;
	readonly #deadlines: Deadlines;
	/**
	 * `timeout()`'s answer as `wake` found it, for the `timeout()` call that
	 * follows a wake; -2: not known, ask the deadlines. Anything else that
	 * sets `timeoutChanged` forgets it. A send in between only moves the
	 * keepalive later, so the earlier time it may hold just wakes the
	 * session early, as `timeoutChanged` already allows.
	 */
	#nextWake = -2;

	// Output waiting for the transport, in the order it goes out: control packets (CONNECT, acks,
	// SUBSCRIBE, PINGREQ), then the birth message, then in-flight messages not yet sent on this
	// connection (from the window's cursor on), then the outbox. DISCONNECT goes last, after stop().
	#control: ControlPacket[] = [];
	#birthDue = false;
	#farewell = false;
	// Outbound QoS 1/2 in flight, in publish order.
	readonly #window: InflightWindow;
	#birth: QueuedPublish | undefined;
	#nextPacketId = 1;
	// Inbound QoS 2 ids between PUBREC and PUBREL: delivered once.
	readonly #inboundPending: UnreleasedIds;
	readonly #subscriptions: Subscriptions;
	// The subscriptions' routes, held here so that an inbound message reaches them in one step.
	readonly #routes: Routes;

	// Acknowledgements are encoded here, one at a time.
	#ack = new Uint8Array(4);
	/** Inside publishWith. */
	#superseding = false;
	#onOutcome: ((outcome: PublishOutcome) => void) | undefined;

	constructor(options: SessionOptions, effects: SessionEffects) {
		this.#deadlines = new Deadlines(options);
		this.options = options;
		this.#effects = effects;
		this.#window = new InflightWindow(options.maxInflight);
		this.outbox = new Outbox(options.outbox);
		this.#inboundPending = new UnreleasedIds(options.maxInboundPending);
		// The lane needs the host's native decoder to read a topic in one call.
		const { maxTopicBytes = 65535, maxPacketSize, utf8 } = options;
		this.#subscriptions = new Subscriptions(effects.deliver, utf8 ? { maxTopicBytes, maxPacketSize } : undefined, () => this.#allocatePacketId(), (kind, message) => effects.error(kind, message));
		this.#routes = this.#subscriptions.routes;
		this.#parser = new PacketParser({ maxPacketSize: options.maxPacketSize, maxTopicBytes: options.maxTopicBytes, oversize: options.oversize, utf8: options.utf8 }, {
			packet: (packet) => this.#receive(packet),
			publish: this.#receivePublish,
			error: (rule, fatal, limit) => this.#parseError(rule, fatal, limit),
			skipped: (qos, packetId, topic, rule) => this.#acknowledgeSkipped(qos, packetId, topic, rule),
		});
		// A broker may give a client with no id a session, but never keeps it (MQTT-3.1.3-7, -8).
		if (options.clientId === "" && !options.cleanSession) throw new TypeError("an empty client id needs a clean session (cleanSession true): a broker keeps no session for a client without an id");
		// Encoded now, so a bad client id or will is the application's error, and only once.
		this.#connectBytes = encode(this.#connectPacket());
		if (options.birth) {
			const { topic, payload, qos, retain } = options.birth;
			const prepared = this.#buffers.prepare(topic);
			this.#birth = { topic: prepared, topicText: topic, payload, qos, retain, size: publishSize(prepared.bytes.length, payload.length, qos) };
		}
	}

	get state(): ConnectionState {
		return this.#state;
	}

	/** Outbound QoS 1/2 messages not yet completed. */
	get inflight(): number {
		return this.#window.entries.length;
	}

	get subscriptions(): ReadonlyMap<string, { qos: QoS; granted: boolean }> {
		return this.#subscriptions.filters;
	}

	// ------------------------------------------------------------ events in

	/** A new connection begins: the driver opens a transport and calls `transportOpened`. */
	connect(now: number): void {
		this.#now = now;
		this.#dropTransport("reconnecting");
		this.#transportOpen = true;
		this.#deadlines.opening(now);
		this.#nextWake = -2;
		this.timeoutChanged = true;
		this.#setState("connecting", "connecting");
	}

	/** The connection is dropped at once, without DISCONNECT (the link below went away). */
	abort(now: number, reason: string): void {
		this.#now = now;
		this.#dropTransport(reason);
		this.#deadlines.disarm();
		this.#nextWake = -2;
		this.#setState("idle", reason);
	}

	/**
	 * Orderly end: what is already in flight or acknowledged goes out, then
	 * DISCONNECT (so the broker discards the will), then the transport is
	 * closed. The outbox is kept, not sent.
	 */
	disconnect(now: number): void {
		this.#now = now;
		this.#deadlines.disarm();
		this.#nextWake = -2;
		if (this.#state === "connected" && this.#transportOpen) {
			this.#farewell = true;
			this.#setState("closing", "disconnecting");
		} else {
			this.abort(now, "disconnected by the application");
		}
	}

	/** The transport opened: CONNECT is the first thing to go. */
	transportOpened(now: number): void {
		this.#now = now;
		if (this.#state !== "connecting" || !this.#transportOpen) return;
		this.#parser.reset();
		this.#lastReceived = now;
		this.#queue(this.#connectBytes);
	}

	/** The transport failed or the peer closed it. */
	transportClosed(now: number, reason: string): void {
		this.#now = now;
		if (!this.#transportOpen) return;
		this.#transportOpen = false;
		this.#control.length = 0;
		if (this.#state === "connecting" || this.#state === "connected") this.#fail("transport", reason, false);
		else this.abort(now, reason);
	}

	// ------------------------------------------------------------ output, pulled

	/**
	 * The next packet to write, or undefined when there is nothing (more) to
	 * send. The driver calls it only while its socket has room, and writes
	 * all of a packet (in slices if need be) before asking for the next, so
	 * the bytes may be the session's reused buffers: they stay untouched
	 * until the next call.
	 */
	transmit(now: number): Uint8Array | undefined {
		this.#now = now;
		if (!this.#transportOpen) return undefined;
		const packet = this.#nextPacket(now);
		if (packet !== undefined) {
			this.#lastSent = now;
			// The last of what there was: the driver need not ask again.
			const window = this.#window;
			if (this.#control.length === 0 && this.outbox.length === 0 && window.cursor >= window.entries.length && this.#state === "connected" && !this.#birthDue) this.quiet = true;
			return packet;
		}
		this.quiet = this.#state === "connected" && this.outbox.length === 0;
		// After disconnect(): everything owed went out, DISCONNECT last; now the transport can close.
		if (this.#state === "closing") this.abort(now, "disconnected by the application");
		return undefined;
	}

	#nextPacket(now: number): Uint8Array | undefined {
		const control = this.#control;
		if (control.length > 0) {
			const item = control.shift()!;
			return typeof item === "number" ? encodeAckInto(this.#ack, item >> 16, item & 0xffff) : item;
		}
		const connected = this.#state === "connected";
		if (!connected && !this.#farewell) return undefined;
		const birth = this.#birth;
		if (this.#birthDue && birth !== undefined) {
			this.#birthDue = false;
			if (birth.qos === 0) return this.#encodePublish(birth.topic.bytes, birth.payload, 0, birth.retain, false, 0, birth.size);
			return this.#sendInflight(this.#addInflight(birth), now);
		}
		// In flight but not yet sent on this connection: replays after a reconnect, in order, then
		// messages accepted while the window had room.
		const window = this.#window;
		const unsent = window.cursor < window.entries.length ? window.nextUnsent() : undefined;
		if (unsent !== undefined) return this.#sendInflight(unsent, now);
		if (connected) {
			if (this.outbox.length === 0) return undefined;
			const item = this.outbox.peek();
			if (item !== undefined && (item.qos === 0 || window.entries.length < window.max)) {
				this.outbox.shift();
				if (item.qos === 0) {
					if (item.onOutcome !== undefined) settle(item, "written");
					return this.#encodePublish(item.topic.bytes, item.payload, 0, item.retain, false, 0, item.size);
				}
				const entry = this.#addInflight(item);
				window.cursor = window.entries.length;
				return this.#sendInflight(entry, now);
			}
			return undefined;
		}
		this.#farewell = false;
		return disconnectPacket;
	}

	/** Hands an in-flight message over: its PUBLISH (DUP if it went out before), or its PUBREL. */
	#sendInflight(entry: Inflight, now: number): Uint8Array {
		const dup = entry.sentAt >= 0;
		entry.sent = true;
		entry.sentAt = now;
		if (entry.phase === "release") return encodeAckInto(this.#ack, PacketType.Pubrel, entry.packetId);
		if (dup) this.stats.retransmitted++;
		this.stats.sent++;
		// A small one goes out of its topic's prepared buffer, as a new message does (see `publish`).
		if (entry.size < 130) return writeSmallPublish(entry.topic, 0x30 | (dup ? 0x08 : 0) | (entry.qos << 1) | (entry.retain ? 1 : 0), entry.packetId, entry.payload, entry.size);
		return this.#buffers.encode(entry.topic.bytes, entry.payload, entry.qos, entry.retain, dup, entry.packetId, entry.size);
	}

	#queue(packet: ControlPacket): void {
		this.#control.push(packet);
		this.quiet = false;
	}

	/** Bytes from the transport, in any split. */
	receive(now: number, chunk: Uint8Array): void {
		// The direct lane: a chunk that is exactly one packet of what a device mostly receives,
		// handled here in one function, because walking it through parser, codec and dispatch
		// costs XS more in calls than the work itself:
		// - a PUBACK for the oldest message in flight, as the broker sends them, in order;
		// - a QoS 0 or 1 PUBLISH, body under 128 bytes, no other flags, on a topic whose exact
		//   subscription's handler is its only recipient.
		// Anything else, and any doubt, takes the layered path below, which handles every packet;
		// the two are held to the same results by test/portable/mqtt-session.ts.
		if (this.#laneOpen) {
			const length = chunk.length;
			const first = chunk[0];
			if (first === 0x30) {
				if (chunk[1] === length - 2 && length < 130 && this.#directRoutes !== undefined) {
					// The whole packet is decoded in one native call, and the topic with its length
					// prefix is cut out of the text and looked up: Routes.directRoutes says why a hit
					// means these very bytes.
					const topicEnd = chunk[3]! + 4;
					const route = this.#directRoutes.get(this.options.utf8!.decode(chunk).substring(2, topicEnd));
					if (route !== undefined) {
						this.stats.received++;
						this.#lastReceived = now;
						const message = route.message;
						message.payload = chunk.subarray(topicEnd);
						try {
							route.handler(message);
						} catch (error) {
							this.#handlerThrew(message.topic, error);
						}
						return;
					}
				}
			} else if (first === 0x40) {
				const window = this.#window;
				const entry = window.entries[0];
				if (length === 4 && chunk[1] === 2 && entry !== undefined && entry.packetId === ((chunk[2]! << 8) | chunk[3]!) && entry.qos === 1 && entry.sent) {
					this.#lastReceived = now;
					this.stats.lastRoundTrip = now - entry.sentAt;
					// #complete for the oldest, inlined: this is every reading's last step.
					window.entries.shift();
					if (window.cursor > 0) window.cursor--;
					if (entry.onOutcome !== undefined) settle(entry, "acknowledged");
					window.release(entry);
					return;
				}
			} else if (first === 0x32 && chunk[1] === length - 2 && length < 130 && this.#directRoutes !== undefined) {
				const topicEnd = chunk[3]! + 4;
				const route = this.#directRoutes.get(this.options.utf8!.decode(chunk).substring(2, topicEnd));
				const packetId = topicEnd + 2 <= length ? (chunk[topicEnd]! << 8) | chunk[topicEnd + 1]! : 0;
				if (route !== undefined && packetId !== 0) {
					this.stats.received++;
					this.#lastReceived = now;
					const message = route.acknowledged;
					message.payload = chunk.subarray(topicEnd + 2);
					try {
						route.handler(message);
					} catch (error) {
						this.#handlerThrew(message.topic, error);
					}
					// As on the layered path: acknowledged after the handler, ahead of what it published.
					this.#queue((PacketType.Puback << 16) | packetId);
					return;
				}
			}
		}
		this.#now = now;
		if (!this.#transportOpen) return;
		this.#lastReceived = now;
		this.#parser.push(chunk);
		this.#updateDirectLane();
	}

	/** Opens the direct lane when it may be taken: connected, between packets. */
	#updateDirectLane(): void {
		this.#laneOpen = this.#state === "connected" && this.#transportOpen && this.#parser.betweenPackets;
	}

	/** The time `timeout()` gave has come (or nearly: a host timer may fire a little early). */
	wake(now: number): void {
		this.#now = now;
		this.timeoutChanged = true;
		const deadlines = this.#deadlines;
		switch (deadlines.wake(now, this.#state === "connected", this.#lastSent, this.#lastReceived)) {
			case Due.ConnackMissing:
				return this.#fail("timeout", `no CONNACK within ${this.options.connackTimeout} ms`, false);
			case Due.PingrespMissing:
				return this.#fail("timeout", `no PINGRESP within ${this.options.pingTimeout} ms: the link is dead`, false);
			case Due.Pingreq:
				this.#nextWake = deadlines.nextWake;
				return this.#queue(pingreqPacket);
			case Due.Nothing:
				this.#nextWake = deadlines.nextWake;
				return;
		}
	}

	// ------------------------------------------------------------ application calls

	/**
	 * Takes a message to publish: in flight, or queued while offline or while
	 * the in-flight window is full. Returns false when the outbox refused it,
	 * true when it was taken and waits for `transmit()`. When nothing else
	 * waits and the packet fits in `room` (the bytes the driver's socket takes
	 * now, 0 while an input is being handled), it is returned instead, to be
	 * written at once: the hot path, with nothing queued. Throws on a bad
	 * argument. The payload is kept by reference until sent or acknowledged.
	 */
	publish(now: number, topic: string, payload: Uint8Array, qos: QoS, retain: boolean, room: number): Uint8Array | boolean {
		const prepared = this.#topics.get(topic) ?? this.#buffers.prepare(topic);
		// Nothing waits to go out, and the socket takes any small packet: it may go straight out.
		if (this.quiet && room > 128) {
			// The hot path: a small QoS 0 or 1 message goes out of the topic's own prepared
			// buffer, with only the header, the packet id and the payload written. This is
			// writeSmallPublish's work, copied here: calling it costs a QoS 1 reading 35 XS units
			// (1.6 %) and a QoS 0 publish 25 (5 %); test/mqtt-publish-bytes holds both to the codec.
			const base = prepared.remainingBase;
			if (qos === 0) {
				if (base + payload.length < 128) {
					const buffer = prepared.buffer ?? (prepared.buffer = smallPublishBuffer(prepared.bytes));
					const size = base + 2 + payload.length;
					buffer[0] = retain ? 0x31 : 0x30;
					buffer[1] = size - 2;
					buffer.set(payload, base + 2);
					let view = prepared.views[size];
					if (view === undefined) view = prepared.views[size] = buffer.subarray(0, size);
					this.stats.sent++;
					this.#lastSent = now;
					return view;
				}
			} else if (qos === 1 && base + payload.length < 126 && this.#window.entries.length < this.#window.max) {
				const buffer = prepared.buffer ?? (prepared.buffer = smallPublishBuffer(prepared.bytes));
				const size = base + 4 + payload.length;
				const packetId = this.#allocatePacketId();
				buffer[0] = retain ? 0x33 : 0x32;
				buffer[1] = size - 2;
				buffer[base + 2] = packetId >> 8;
				buffer[base + 3] = packetId & 0xff;
				buffer.set(payload, base + 4);
				const window = this.#window;
				const entry = window.take(prepared, topic, payload, 1, retain, size, packetId);
				entry.sent = true;
				entry.sentAt = now;
				window.cursor = window.entries.length;
				if (this.#onOutcome !== undefined) entry.onOutcome = this.#onOutcome;
				let view = prepared.views[size];
				if (view === undefined) view = prepared.views[size] = buffer.subarray(0, size);
				this.stats.sent++;
				this.#lastSent = now;
				return view;
			}
		}
		this.#now = now;
		if (qos !== 0 && qos !== 1 && qos !== 2) throw new RangeError(`QoS must be 0, 1 or 2, got ${String(qos)}`);
		// publishSize, inlined.
		const remaining = prepared.remainingBase + payload.length + (qos === 0 ? 0 : 2);
		const size = 1 + (remaining < 128 ? 1 : remaining < 16384 ? 2 : remaining < 2097152 ? 3 : 4) + remaining;
		if (size > 268435460) throw new RangeError(`a PUBLISH of ${payload.length} payload bytes exceeds MQTT's maximum packet size`);
		const window = this.#window;
		if (qos === 0) {
			if (this.quiet && size <= room) {
				this.#lastSent = now;
				return this.#encodePublish(prepared.bytes, payload, 0, retain, false, 0, size);
			}
		} else if (this.outbox.length === 0 && this.#state === "connected" && window.entries.length < window.max) {
			// Nothing waits in the outbox: the message joins the window at once, to go out after what
			// is owed already (the acknowledgement of the message being handled, say), or now if
			// nothing is and it fits. A state is replaced there too, until it has gone out.
			const earlier = this.#superseding && window.cursor < window.entries.length ? window.unsentState(topic) : undefined;
			if (earlier !== undefined) {
				this.outbox.superseded++;
				settle(earlier, "superseded");
				earlier.payload = payload;
				earlier.qos = qos;
				earlier.retain = retain;
				earlier.size = size;
				earlier.onOutcome = this.#onOutcome;
				return true;
			}
			const entry = window.take(prepared, topic, payload, qos, retain, size, this.#allocatePacketId());
			if (this.#superseding) entry.supersede = true;
			if (this.#onOutcome !== undefined) entry.onOutcome = this.#onOutcome;
			if (this.quiet && size <= room) {
				// Nothing else waits and it fits: it goes now, and the session stays quiet.
				window.cursor = window.entries.length;
				this.#lastSent = now;
				return this.#sendInflight(entry, now);
			}
			this.quiet = false;
			return true;
		}
		this.quiet = false;
		const item: QueuedPublish = { topic: prepared, topicText: topic, payload, qos, retain, size };
		if (this.#superseding) item.supersede = true;
		if (this.#onOutcome !== undefined) item.onOutcome = this.#onOutcome;
		const accepted = this.outbox.push(item);
		this.stats.dropped = this.outbox.droppedOldest + this.outbox.rejectedNew;
		if (!accepted) this.#effects.error("limit", `outbox full (${this.outbox.length} messages, ${this.outbox.bytes} bytes): rejected a publish to ${topic}`);
		return accepted;
	}

	/**
	 * `publish` with options the hot path does without, so that it pays
	 * nothing for them. `supersede`: a state rather than an event, last value
	 * wins (see mqtt/outbox). `onOutcome`: told what became of the message;
	 * a QoS 0 packet returned to be written at once is "written" (the caller
	 * writes it next, within the room it gave).
	 */
	publishWith(now: number, topic: string, payload: Uint8Array, qos: QoS, retain: boolean, room: number, supersede: boolean, onOutcome: ((outcome: PublishOutcome) => void) | undefined): Uint8Array | boolean {
		this.#superseding = supersede;
		this.#onOutcome = onOutcome;
		let taken: Uint8Array | boolean;
		try {
			taken = this.publish(now, topic, payload, qos, retain, room);
		} finally {
			this.#superseding = false;
			this.#onOutcome = undefined;
		}
		if (onOutcome !== undefined && qos === 0 && typeof taken === "object") settle({ onOutcome } as QueuedPublish, "written");
		return taken;
	}

	/**
	 * Every message the broker has not yet taken, oldest first: those in
	 * flight still waiting for PUBACK/PUBREC, then the outbox. Nothing is
	 * removed; for a session that replaces this one (new broker settings).
	 */
	unsent(): { topic: string; payload: Uint8Array; qos: 0 | 1 | 2; retain: boolean }[] {
		const messages: { topic: string; payload: Uint8Array; qos: 0 | 1 | 2; retain: boolean }[] = [];
		for (const entry of this.#window.entries) {
			if (entry.phase === "publish") messages.push({ topic: entry.topicText, payload: entry.payload, qos: entry.qos, retain: entry.retain });
		}
		for (const item of this.outbox) messages.push({ topic: item.topicText, payload: item.payload, qos: item.qos, retain: item.retain });
		return messages;
	}

	/** Stopped: every message waiting or in flight is told it was abandoned (they are kept for a later start). */
	abandonAll(): void {
		for (const entry of this.#window.entries) settle(entry, "abandoned");
		for (const item of this.outbox) settle(item, "abandoned");
	}

	/**
	 * Subscribes now or at the next CONNACK, and again after any reconnect
	 * that lost the session. `handler`, if given, receives the matching
	 * messages (replacing any handler the filter had); `onResult` the
	 * broker's answer: the granted QoS, or 0x80 if it refused.
	 */
	subscribe(now: number, filter: string, qos: QoS, handler?: MessageHandler, onResult?: (code: number) => void): void {
		this.#now = now;
		const packet = this.#subscriptions.subscribe(filter, qos, handler, onResult, this.#state === "connected");
		this.#directRoutes = this.#subscriptions.directRoutes;
		if (packet !== undefined) this.#queue(packet);
	}

	/**
	 * Unsubscribes now, or at the next CONNACK if offline. It goes to the
	 * broker even for a filter not subscribed here: a persistent session may
	 * hold it from an earlier boot. `onDone` is told of the UNSUBACK.
	 */
	unsubscribe(now: number, filter: string, onDone?: () => void): void {
		this.#now = now;
		const packet = this.#subscriptions.unsubscribe(filter, onDone, this.#state === "connected");
		this.#directRoutes = this.#subscriptions.directRoutes;
		if (packet !== undefined) this.#queue(packet);
	}

	// ------------------------------------------------------------ inbound packets

	#receive(packet: Packet): void {
		switch (packet.type) {
			case PacketType.Connack: {
				if (this.#state !== "connecting") return this.#protocolError("CONNACK received on an established session");
				this.#deadlines.connackReceived();
				this.#nextWake = -2;
				if (packet.returnCode !== 0) {
					const name = connackCodeNames[packet.returnCode] ?? `code ${packet.returnCode}`;
					// Bad credentials or not authorised: retrying soon cannot help.
					const atMaximum = packet.returnCode === 4 || packet.returnCode === 5;
					return this.#fail("refused", `broker refused the connection: ${name} (${packet.returnCode})`, atMaximum);
				}
				return this.#connected(packet.sessionPresent);
			}
			case PacketType.Puback:
			case PacketType.Pubrec:
			case PacketType.Pubcomp:
				return this.#receiveAck(packet.type, packet.packetId);
			case PacketType.Pubrel: {
				// Exactly once: the message was delivered at PUBLISH; now forget the id.
				this.#inboundPending.release(packet.packetId);
				this.#queue((PacketType.Pubcomp << 16) | packet.packetId);
				return;
			}
			case PacketType.Suback:
				if (!this.#subscriptions.receiveSuback(packet.packetId, packet.returnCodes)) return this.#protocolError(`SUBACK for unknown packet id ${packet.packetId}`);
				return;
			case PacketType.Unsuback:
				return this.#subscriptions.receiveUnsuback(packet.packetId);
			case PacketType.Pingresp: {
				const roundTrip = this.#deadlines.pingrespReceived(this.#now);
				if (roundTrip >= 0) this.stats.lastRoundTrip = roundTrip;
				this.#nextWake = -2;
				this.timeoutChanged = true;
				return;
			}
			default:
				return this.#protocolError(`a client must not receive ${packetTypeName(packet.type)}`);
		}
	}

	/** A field, not a method, so the parser calls it without a wrapper. */
	readonly #receivePublish = (message: InboundPublish): void => {
		if (this.#state !== "connected") return this.#protocolError("PUBLISH received before CONNACK");
		const qos = message.qos;
		const packetId = message.packetId;
		if (qos === 2) {
			if (this.#inboundPending.has(packetId)) {
				// A retransmission before PUBREL: acknowledged again, not delivered again.
				this.stats.duplicatesIgnored++;
				this.#queue((PacketType.Pubrec << 16) | packetId);
				return;
			}
			if (!this.#holdUnreleased(packetId)) return;
		}
		this.stats.received++;
		// An application handler's exception is reported; it never breaks the session.
		try {
			this.#routes.dispatch(message);
		} catch (error) {
			this.#handlerThrew(message.topic, error);
		}
		// The acknowledgement is queued, and goes out ahead of anything a handler published.
		if (qos === 1) this.#queue((PacketType.Puback << 16) | packetId);
		else if (qos === 2) this.#queue((PacketType.Pubrec << 16) | packetId);
	};

	/** An application handler's exception is reported; it never breaks the session. */
	#handlerThrew(topic: string, error: unknown): void {
		this.#effects.error("handler", `message handler for ${topic} threw: ${(error as Error)?.message ?? String(error)}`);
	}

	#receiveAck(type: PacketType.Puback | PacketType.Pubrec | PacketType.Pubcomp, packetId: number): void {
		const window = this.#window;
		// Acks come in order, so the first entry is almost always the one: no call for it.
		const first = window.entries[0];
		const index = first !== undefined && first.packetId === packetId ? 0 : window.indexOf(packetId);
		if (index < 0) {
			// A late ack for a message already completed (e.g. after a retransmission) is harmless.
			return;
		}
		const entry = window.entries[index]!;
		if (type === PacketType.Pubrec) {
			if (entry.qos !== 2) return this.#protocolError(`PUBREC for QoS ${entry.qos} message ${packetId}`);
			if (entry.phase === "publish") this.stats.lastRoundTrip = this.#now - entry.sentAt;
			entry.phase = "release";
			this.#queue((PacketType.Pubrel << 16) | packetId);
			return;
		}
		if (type === PacketType.Puback && entry.qos !== 1) return this.#protocolError(`PUBACK for QoS ${entry.qos} message ${packetId}`);
		if (type === PacketType.Pubcomp && entry.phase !== "release") return this.#protocolError(`PUBCOMP before PUBREC for message ${packetId}`);
		if (type === PacketType.Puback) this.stats.lastRoundTrip = this.#now - entry.sentAt;
		this.#complete(entry, index);
	}

	/** An outbound message's flow is complete: it leaves the window, and its record is reused. */
	#complete(entry: Inflight, index: number): void {
		const window = this.#window;
		window.remove(index);
		if (entry.onOutcome !== undefined) settle(entry, "acknowledged");
		window.release(entry);
	}

	/**
	 * A message we refused to deliver is still acknowledged, as PUBACK or
	 * PUBREC (its PUBREL then completes as usual): unacknowledged, it would
	 * hold one of the broker's in-flight slots for good. It is reported
	 * once: a QoS 2 retransmission before PUBREL is only acknowledged again.
	 */
	#acknowledgeSkipped(qos: QoS, packetId: number, topic: string | undefined, rule: string): void {
		if (this.#state !== "connected") return this.#protocolError("PUBLISH received before CONNACK");
		if (qos === 2 && this.#inboundPending.has(packetId)) {
			this.stats.duplicatesIgnored++;
			this.#queue((PacketType.Pubrec << 16) | packetId);
			return;
		}
		this.stats.skipped++;
		if (qos === 2 && !this.#holdUnreleased(packetId)) return;
		if (qos !== 0) this.#queue(((qos === 1 ? PacketType.Puback : PacketType.Pubrec) << 16) | packetId);
		this.#effects.skipped?.(topic, rule);
	}

	/** Remembers an inbound QoS 2 id until its PUBREL; false (and the connection closed) past the bound. */
	#holdUnreleased(packetId: number): boolean {
		if (this.#inboundPending.hold(packetId)) return true;
		this.#protocolError(`broker exceeded ${this.#inboundPending.limit} unreleased QoS 2 messages`);
		return false;
	}

	#parseError(rule: string, fatal: boolean, limit: SkipReason | undefined): void {
		if (!fatal) {
			this.#effects.error(limit === "topic" ? "limit" : "oversize", rule);
			return;
		}
		this.#protocolError(rule);
	}

	#protocolError(rule: string): void {
		this.stats.protocolErrors++;
		this.#fail("protocol", `protocol error: ${rule}`, false);
	}

	// ------------------------------------------------------------ transitions

	/**
	 * CONNACK accepted: what must go out is queued, in order (subscriptions
	 * the broker lacks, the birth message, in-flight replays, the outbox),
	 * and the application is told last, so whatever it does then (publish,
	 * stop) simply queues behind or changes the state.
	 */
	#connected(sessionPresent: boolean): void {
		this.stats.connects++;
		if (this.stats.connects > 1) this.stats.reconnects++;
		this.#lastSent = this.#lastReceived = this.#now;
		// Inbound QoS 2 ids awaiting PUBREL: a resumed session resends those PUBLISHes with DUP, and they
		// must not be delivered again (MQTT 4.3.3); only a new session forgets them.
		if (!sessionPresent) this.#inboundPending.clear();
		// Subscriptions the broker does not hold for us, and unsubscriptions asked for while offline.
		for (const packet of this.#subscriptions.connected(sessionPresent)) this.#queue(packet);
		// The birth message goes once per CONNACK. An earlier connection's, still unacknowledged,
		// is sent again in a resumed session (its flow must complete) and serves as this one's;
		// a new session drops it and sends a fresh one.
		const birth = this.#birth;
		const isBirth = (entry: Inflight): boolean => birth !== undefined && entry.payload === birth.payload && entry.topic === birth.topic;
		this.#birthDue = birth !== undefined && !(sessionPresent && this.#window.entries.some(isBirth));
		if (sessionPresent) {
			// The broker kept our session: what it has not acknowledged goes again, in order, as DUP.
			this.#window.resend();
		} else if (this.#window.entries.length) {
			// A new session knows nothing of them: publish them again, first in line, as new messages.
			this.outbox.unshiftAll(this.#window.forget((entry) => !isBirth(entry)));
		}
		this.#setState("connected", sessionPresent ? "connected, session present" : "connected, new session");
		this.#effects.connected(sessionPresent);
	}

	/** The connection failed: closed, counted, and the driver told (it decides when to try again). */
	#fail(kind: SessionErrorKind, reason: string, atMaximum: boolean): void {
		const wasConnected = this.#state === "connected";
		this.#dropTransport(reason);
		this.#deadlines.clear();
		this.#nextWake = -2;
		if (!wasConnected) this.stats.failedAttempts++;
		this.#setState("idle", reason);
		this.#effects.failed(kind, reason, atMaximum);
	}

	#dropTransport(reason: string): void {
		// What this connection still owed goes with it; in-flight messages wait for the next one.
		this.#control.length = 0;
		this.#farewell = false;
		this.#birthDue = false;
		this.#laneOpen = false;
		// Nothing more from this connection: not even the rest of the chunk being parsed.
		this.#parser.halt();
		if (this.#transportOpen) {
			this.#transportOpen = false;
			this.#effects.closeTransport(reason);
		}
	}

	#setState(state: ConnectionState, reason: string): void {
		if (this.#state === state) return;
		this.#state = state;
		if (state !== "connected") this.#laneOpen = false;
		this.quiet = false;
		this.#nextWake = -2;
		this.timeoutChanged = true;
		this.#effects.stateChanged(state, reason);
	}

	/**
	 * Set when a deadline may have come nearer, appeared or gone: the driver
	 * then asks `timeout()` again and clears it. Sending moves the keepalive
	 * deadline only later, so a timer armed for the earlier time just wakes
	 * the session to find nothing due yet.
	 */
	timeoutChanged = true;

	/** The single time the session next needs `wake()`; undefined: no timer needed. */
	timeout(): number | undefined {
		const known = this.#nextWake;
		if (known === -2) return this.#deadlines.next(this.#state === "connected", this.#lastSent, this.#lastReceived);
		this.#nextWake = -2;
		return known < 0 ? undefined : known;
	}

	// ------------------------------------------------------------ sending

	#connectPacket(): Packet {
		const { clientId, cleanSession, keepalive, username, password, will } = this.options;
		return {
			type: PacketType.Connect, clientId, cleanSession, keepalive,
			...(username !== undefined ? { username } : {}),
			...(password !== undefined ? { password } : {}),
			...(will !== undefined ? { will } : {}),
		};
	}

	/** A message joins the in-flight window, with the next packet id, not yet sent. */
	#addInflight(item: QueuedPublish): Inflight {
		return this.#window.add(item, this.#allocatePacketId());
	}

	#encodePublish(topic: Uint8Array, payload: Uint8Array, qos: QoS, retain: boolean, dup: boolean, packetId: number, size: number): Uint8Array {
		this.stats.sent++;
		return this.#buffers.encode(topic, payload, qos, retain, dup, packetId, size);
	}

	#allocatePacketId(): number {
		// Nothing else holds an id: the next one is free.
		if (this.#window.entries.length === 0 && this.#subscriptions.heldIds === 0) {
			const id = this.#nextPacketId;
			this.#nextPacketId = id === 65535 ? 1 : id + 1;
			return id;
		}
		for (;;) {
			const id = this.#nextPacketId;
			this.#nextPacketId = id === 65535 ? 1 : id + 1;
			if (!this.#idInUse(id)) return id;
		}
	}

	#idInUse(id: number): boolean {
		return this.#subscriptions.holds(id) || this.#window.holds(id);
	}
}
