/*
 * The MQTT session state machine (layer 3), sans-I/O in the manner of h11
 * and quinn-proto: it owns no socket and no clock, and is fed events, each
 * with the current time. Its output is pulled, as quinn-proto's
 * poll_transmit and poll_timeout are: after each input the driver asks
 * `transmit()` for the next packet, only while its socket has room, and
 * `timeout()` for the one time it next wants to be woken. So nothing is
 * written from inside its own dispatch, and what the socket cannot take yet
 * waits, bounded by the outbox and the in-flight window. Effects tell the
 * driver to open or close a transport and report messages, states and
 * errors. docs/client-library.md has the contract: each call, when, and
 * what it returns; mqtt/session-contract the types.
 *
 * This holds the connection's lifecycle, the inbound dispatch and the
 * direct lane. Its parts are modules: mqtt/deadlines, mqtt/output (what
 * goes next), mqtt/outbound and mqtt/inbound (QoS), mqtt/packet-ids,
 * mqtt/subscriptions, mqtt/birth, and mqtt/publish-buffers (PUBLISH bytes).
 *
 * It keeps the session's state across connections (in-flight messages,
 * subscriptions, the outbox), but one connection at a time: when one
 * fails it says so (`failed`), and when to try again is the driver's
 * business, as lwmqtt and quinn-proto leave it (mqtt/client supervises).
 */
import type { Utf8Decoder } from "platform";
import { PacketType, connackCodeNames, type Packet, type QoS } from "mqtt/packets";
import { encode, packetTypeName, pingreqPacket, type InboundPublish } from "mqtt/codec";
import { PacketParser, type SkipReason } from "mqtt/parser";
import type { DirectRoute, InboundMessage, MessageHandler, Routes } from "mqtt/routes";
import { Subscriptions } from "mqtt/subscriptions";
import { Deadlines, Due } from "mqtt/deadlines";
import { PublishBuffers, writeSmallPublish, type PreparedTopic } from "mqtt/publish-buffers";
import { InboundAcks, overLimit } from "mqtt/inbound";
import { InflightWindow } from "mqtt/inflight";
import { PacketIds } from "mqtt/packet-ids";
import { Outbound, type UnsentMessage } from "mqtt/outbound";
import { Birth } from "mqtt/birth";
import { Output } from "mqtt/output";
import { Outbox, settle, type PublishOutcome, type QueuedPublish } from "mqtt/outbox";
import {
	newStats, type ConnectionState, type SessionEffects, type SessionErrorKind, type SessionOptions, type SessionStats, type SessionStatus,
} from "mqtt/session-contract";

export type { ConnectionState, InboundMessage, MessageHandler, SessionEffects, SessionErrorKind, SessionOptions, SessionStats, SessionStatus };

export class Session {
	// The options are read here and by the parts made from them, not kept: each of their slots would stay live.
	/** The host's native decoder, for the direct lane's topics. */
	readonly #utf8: Utf8Decoder | undefined;
	readonly outbox: Outbox;
	readonly stats: SessionStats = newStats();
	// The hot paths' fields first.
	// The direct lane (see `receive`): connected, and the parser holds no partial packet.
	#laneOpen = false;
	// Its exact topics whose handler is a message's only recipient; undefined when none.
	#directRoutes: Map<string, DirectRoute> | undefined;
	// Where outbound PUBLISH bytes are written, and its topics, encoded once (read directly on the hot path).
	readonly #buffers = new PublishBuffers();
	readonly #topics: Map<string, PreparedTopic> = this.#buffers.topics;
	readonly #output: Output;
	/** What the driver reads after each input; only the session writes it. */
	readonly status: SessionStatus;
	// Outbound QoS 1/2 in flight, in publish order.
	readonly #window: InflightWindow;
	readonly #outbound: Outbound;
	readonly #ids: PacketIds;
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
	 * `timeout()`'s answer as `wake` found it, for the call that follows; -2:
	 * ask the deadlines. A send in between only moves the keepalive later.
	 */
	#nextWake = -2;
	readonly #birth: Birth | undefined;
	readonly #inbound: InboundAcks;
	readonly #subscriptions: Subscriptions;
	// The subscriptions' routes, held here so that an inbound message reaches them in one step.
	readonly #routes: Routes;

	constructor(options: SessionOptions, effects: SessionEffects) {
		this.#deadlines = new Deadlines(options);
		this.#utf8 = options.utf8;
		this.#effects = effects;
		const window = this.#window = new InflightWindow(options.maxInflight);
		this.outbox = new Outbox(options.outbox);
		this.#inbound = new InboundAcks(options.maxInboundPending);
		// The lane needs the host's native decoder to read a topic in one call.
		const { maxTopicBytes = 65535, maxPacketSize, utf8 } = options;
		const subscriptions: Subscriptions = this.#subscriptions = new Subscriptions(effects.deliver, utf8 ? { maxTopicBytes, maxPacketSize } : undefined, (): number => ids.allocate(), (kind, message) => effects.error(kind, message));
		const ids: PacketIds = this.#ids = new PacketIds(window, subscriptions);
		this.#routes = subscriptions.routes;
		this.#outbound = new Outbound(window, ids, this.#buffers, this.stats);
		this.#parser = new PacketParser({ maxPacketSize: options.maxPacketSize, maxTopicBytes: options.maxTopicBytes, oversize: options.oversize, utf8: options.utf8 }, {
			packet: (packet) => this.#receive(packet),
			publish: this.#receivePublish,
			error: (rule, fatal, limit) => this.#parseError(rule, fatal, limit),
			skipped: (qos, packetId, topic, rule) => this.#acknowledgeSkipped(qos, packetId, topic, rule),
		});
		// A broker may give a client with no id a session, but never keeps it (MQTT-3.1.3-7, -8).
		if (options.clientId === "" && !options.cleanSession) throw new TypeError("an empty client id needs a clean session (cleanSession true): a broker keeps no session for a client without an id");
		// Encoded now, so a bad client id or will is the application's error, and only once.
		const { clientId, cleanSession, keepalive, username, password, will } = options;
		this.#connectBytes = encode({ type: PacketType.Connect, clientId, cleanSession, keepalive, username, password, will });
		this.#birth = options.birth ? new Birth(this.#buffers, options.birth) : undefined;
		this.status = this.#output = new Output(this.#outbound, this.outbox, this.#birth);
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
		this.#timeoutChanged();
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
			this.#output.farewell = true;
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
		this.#output.queue(this.#connectBytes);
	}

	/** The transport failed or the peer closed it. */
	transportClosed(now: number, reason: string): void {
		this.#now = now;
		if (!this.#transportOpen) return;
		this.#transportOpen = false;
		this.#output.drop();
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
		const packet = this.#output.next(this.#state === "connected", now);
		if (packet !== undefined) {
			this.#lastSent = now;
			return packet;
		}
		// After disconnect(): everything owed went out, DISCONNECT last; now the transport can close.
		if (this.#state === "closing") this.abort(now, "disconnected by the application");
		return undefined;
	}

	/** Bytes from the transport, in any split. */
	receive(now: number, chunk: Uint8Array): void {
		// The direct lane: a chunk that is exactly one packet of what a device mostly receives,
		// handled here in one function, because walking it through parser, codec and dispatch
		// costs XS more in calls than the work itself:
		// - a PUBACK for the oldest message in flight, as the broker sends them, in order;
		// - a QoS 0 or 1 PUBLISH, body under 128 bytes, no other flags, on a topic whose exact
		//   subscription's handler is its only recipient. QoS 1 differs by the packet id after
		//   the topic and the PUBACK queued after the handler.
		// Anything else, and any doubt, takes the layered path below, which handles every packet;
		// the two are held to the same results by test/portable/mqtt-client.ts.
		if (this.#laneOpen) {
			const length = chunk.length;
			const first = chunk[0]!;
			if (first === 0x40) {
				const window = this.#window;
				const entry = window.entries[0];
				if (length === 4 && chunk[1] === 2 && entry !== undefined && entry.packetId === ((chunk[2]! << 8) | chunk[3]!) && entry.qos === 1 && entry.sent) {
					this.#lastReceived = now;
					this.stats.lastRoundTrip = now - entry.sentAt;
					// Outbound.acknowledge for the oldest, inlined: this is every reading's last step.
					window.removeOldest();
					if (entry.onOutcome !== undefined) settle(entry, "acknowledged");
					window.release(entry);
					return;
				}
			} else if ((first & 0xfd) === 0x30 && chunk[1] === length - 2 && length < 130 && this.#directRoutes !== undefined) {
				// The whole packet is decoded in one native call, and the topic with its length
				// prefix is cut out of the text and looked up: Routes.directRoutes says why a hit
				// means these very bytes.
				const topicEnd = chunk[3]! + 4;
				const route = this.#directRoutes.get(this.#utf8!.decode(chunk).substring(2, topicEnd));
				if (route !== undefined) {
					// QoS 1 (0x32): the packet id's two bytes come before the payload, and a PUBACK after the handler.
					const qos1 = first !== 0x30;
					const packetId = qos1 && topicEnd + 2 <= length ? (chunk[topicEnd]! << 8) | chunk[topicEnd + 1]! : 0;
					if (packetId !== 0 || !qos1) {
						this.stats.received++;
						this.#lastReceived = now;
						const message = qos1 ? route.acknowledged : route.message;
						message.payload = chunk.subarray(qos1 ? topicEnd + 2 : topicEnd);
						try {
							route.handler(message);
						} catch (error) {
							this.#handlerThrew(message.topic, error);
						}
						// As on the layered path: acknowledged after the handler, ahead of what it published.
						if (qos1) this.#output.queue((PacketType.Puback << 16) | packetId);
						return;
					}
				}
			}
		}
		this.#now = now;
		if (!this.#transportOpen) return;
		this.#lastReceived = now;
		this.#parser.push(chunk);
		this.#laneOpen = this.#state === "connected" && this.#transportOpen && this.#parser.betweenPackets;
	}

	/** The time `timeout()` gave has come (or nearly: a host timer may fire a little early). */
	wake(now: number): void {
		this.#now = now;
		this.#output.timeoutChanged = true;
		const deadlines = this.#deadlines;
		switch (deadlines.wake(now, this.#state === "connected", this.#lastSent, this.#lastReceived)) {
			case Due.ConnackMissing:
				return this.#fail("timeout", `no CONNACK within ${this.#deadlines.connackTimeout} ms`, false);
			case Due.PingrespMissing:
				return this.#fail("timeout", `no PINGRESP within ${this.#deadlines.pingTimeout} ms: the link is dead`, false);
			case Due.Pingreq:
				this.#nextWake = deadlines.nextWake;
				return this.#output.queue(pingreqPacket);
			case Due.Nothing:
				this.#nextWake = deadlines.nextWake;
				return;
		}
	}

	/**
	 * The single time the session next needs `wake()`; undefined: no timer
	 * needed. Clears `status.timeoutChanged`.
	 */
	timeout(): number | undefined {
		this.#output.timeoutChanged = false;
		const known = this.#nextWake;
		if (known === -2) return this.#deadlines.next(this.#state === "connected", this.#lastSent, this.#lastReceived);
		this.#nextWake = -2;
		return known < 0 ? undefined : known;
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
		// Nothing waits to go out, and the socket takes any small packet: a small QoS 0 or 1
		// message goes straight out of its topic's prepared buffer.
		if (this.#output.quiet && room > 128) {
			const base = prepared.remainingBase + payload.length;
			if (qos === 0) {
				if (base < 128) {
					this.stats.sent++;
					this.#lastSent = now;
					return writeSmallPublish(prepared, retain ? 0x31 : 0x30, 0, payload, base + 2);
				}
			}
			const window = this.#window;
			// The room is read, not asked for: a call here costs every reading (docs/benchmarks.md, "The session split").
			if (qos === 1 && base < 126 && window.entries.length < window.max) {
				const packetId = this.#ids.allocate();
				window.take(prepared, topic, payload, 1, retain, base + 4, packetId, now);
				this.stats.sent++;
				this.#lastSent = now;
				return writeSmallPublish(prepared, retain ? 0x33 : 0x32, packetId, payload, base + 4);
			}
		}
		return this.publishWith(now, topic, payload, qos, retain, room, false, undefined);
	}

	/**
	 * `publish` with options the hot path does without, so that it pays
	 * nothing for them. `supersede`: a state rather than an event, last value
	 * wins (see mqtt/outbox). `onOutcome`: told what became of the message;
	 * a QoS 0 packet returned to be written at once is "written" (the caller
	 * writes it next, within the room it gave).
	 */
	publishWith(now: number, topic: string, payload: Uint8Array, qos: QoS, retain: boolean, room: number, supersede: boolean, onOutcome: ((outcome: PublishOutcome) => void) | undefined): Uint8Array | boolean {
		this.#now = now;
		const prepared = this.#topics.get(topic) ?? this.#buffers.prepare(topic);
		if (qos !== 0 && qos !== 1 && qos !== 2) throw new RangeError(`QoS must be 0, 1 or 2, got ${String(qos)}`);
		// publishSize, inlined.
		const remaining = prepared.remainingBase + payload.length + (qos === 0 ? 0 : 2);
		const size = 1 + (remaining < 128 ? 1 : remaining < 16384 ? 2 : remaining < 2097152 ? 3 : 4) + remaining;
		if (size > 268435460) throw new RangeError(`a PUBLISH of ${payload.length} payload bytes exceeds MQTT's maximum packet size`);
		const window = this.#window;
		const output = this.#output;
		if (qos === 0) {
			if (output.quiet && size <= room) {
				this.#lastSent = now;
				if (onOutcome !== undefined) onOutcome("written");
				return this.#outbound.sendQos0(prepared, payload, retain, size);
			}
		} else if (this.outbox.length === 0 && this.#state === "connected" && window.entries.length < window.max) {
			// Nothing waits in the outbox: the message joins the window at once, to go out after what
			// is owed already (the acknowledgement of the message being handled, say), or now if
			// nothing is and it fits. A state is replaced there too, until it has gone out.
			if (supersede && window.cursor < window.entries.length && this.#outbound.replaceState(topic, payload, qos, retain, size, onOutcome)) {
				this.outbox.superseded++;
				return true;
			}
			const entry = window.take(prepared, topic, payload, qos, retain, size, this.#ids.allocate());
			if (supersede) entry.supersede = true;
			if (onOutcome !== undefined) entry.onOutcome = onOutcome;
			if (output.quiet && size <= room) {
				// Nothing else waits and it fits: it goes now, and the session stays quiet.
				window.sendingNewest();
				this.#lastSent = now;
				return this.#outbound.send(entry, now);
			}
			output.quiet = false;
			return true;
		}
		output.quiet = false;
		const item: QueuedPublish = { topic: prepared, topicText: topic, payload, qos, retain, size };
		if (supersede) item.supersede = true;
		if (onOutcome !== undefined) item.onOutcome = onOutcome;
		const accepted = this.outbox.push(item);
		this.stats.dropped = this.outbox.droppedOldest + this.outbox.rejectedNew;
		if (!accepted) this.#effects.error("limit", `outbox full (${this.outbox.length} messages, ${this.outbox.bytes} bytes): rejected a publish to ${topic}`);
		return accepted;
	}

	/** Every message the broker has not taken, oldest first, none removed: for a session that replaces this one. */
	unsent(): UnsentMessage[] {
		return this.#outbound.unsent(this.outbox);
	}

	/** Stopped: every message waiting or in flight is told it was abandoned (they are kept for a later start). */
	abandonAll(): void {
		this.#outbound.abandonAll(this.outbox);
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
		if (packet !== undefined) this.#output.queue(packet);
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
		if (packet !== undefined) this.#output.queue(packet);
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
			case PacketType.Pubcomp: {
				const answer = this.#outbound.acknowledge(packet.type, packet.packetId, this.#now);
				if (typeof answer === "string") return this.#protocolError(answer);
				if (answer !== undefined) this.#output.queue(answer);
				return;
			}
			case PacketType.Pubrel:
				// Exactly once: the message was delivered at PUBLISH; now forget the id.
				return this.#output.queue(this.#inbound.release(packet.packetId));
			case PacketType.Suback:
				if (!this.#subscriptions.receiveSuback(packet.packetId, packet.returnCodes)) return this.#protocolError(`SUBACK for unknown packet id ${packet.packetId}`);
				return;
			case PacketType.Unsuback:
				return this.#subscriptions.receiveUnsuback(packet.packetId);
			case PacketType.Pingresp: {
				const roundTrip = this.#deadlines.pingrespReceived(this.#now);
				if (roundTrip >= 0) this.stats.lastRoundTrip = roundTrip;
				this.#timeoutChanged();
				return;
			}
			default:
				return this.#protocolError(`a client must not receive ${packetTypeName(packet.type)}`);
		}
	}

	/** A field, not a method, so the parser calls it without a wrapper. */
	readonly #receivePublish = (message: InboundPublish): void => {
		const ack = this.#accept(message.qos, message.packetId);
		if (ack < 0) return;
		this.stats.received++;
		// An application handler's exception is reported; it never breaks the session.
		try {
			this.#routes.dispatch(message);
		} catch (error) {
			this.#handlerThrew(message.topic, error);
		}
		// The acknowledgement is queued, and goes out ahead of anything a handler published.
		if (ack !== 0) this.#output.queue(ack);
	};

	/**
	 * A message not delivered for a limit of ours is acknowledged all the
	 * same (see mqtt/inbound), and reported once.
	 */
	#acknowledgeSkipped(qos: QoS, packetId: number, topic: string | undefined, rule: string): void {
		const ack = this.#accept(qos, packetId);
		if (ack < 0) return;
		this.stats.skipped++;
		if (ack !== 0) this.#output.queue(ack);
		this.#effects.skipped?.(topic, rule);
	}

	/** An inbound PUBLISH's acknowledgement (0 for QoS 0), or -1 when it is not to be delivered (done here). */
	#accept(qos: QoS, packetId: number): number {
		if (this.#state !== "connected") {
			this.#protocolError("PUBLISH received before CONNACK");
			return -1;
		}
		const ack = this.#inbound.accept(qos, packetId);
		if (ack === overLimit) {
			this.#protocolError(`broker exceeded ${this.#inbound.limit} unreleased QoS 2 messages`);
			return -1;
		}
		if (ack < 0) {
			// A retransmission before PUBREL: acknowledged again, not delivered again.
			this.stats.duplicatesIgnored++;
			this.#output.queue(-ack);
			return -1;
		}
		return ack;
	}

	/** An application handler's exception is reported; it never breaks the session. */
	#handlerThrew(topic: string, error: unknown): void {
		this.#effects.error("handler", `message handler for ${topic} threw: ${(error as Error)?.message ?? String(error)}`);
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
	 * and the driver is told last, so whatever it does then (publish, stop)
	 * simply queues behind or changes the state.
	 */
	#connected(sessionPresent: boolean): void {
		this.stats.connects++;
		if (this.stats.connects > 1) this.stats.reconnects++;
		this.#lastSent = this.#lastReceived = this.#now;
		// Inbound QoS 2 ids awaiting PUBREL: a resumed session resends those PUBLISHes with DUP, and they
		// must not be delivered again (MQTT 4.3.3); only a new session forgets them.
		if (!sessionPresent) this.#inbound.newSession();
		// Subscriptions the broker does not hold for us, and unsubscriptions asked for while offline.
		for (const packet of this.#subscriptions.connected(sessionPresent)) this.#output.queue(packet);
		const birth = this.#birth;
		this.#output.birthDue = birth !== undefined && birth.owed(sessionPresent, this.#window);
		if (sessionPresent) {
			// The broker kept our session: what it has not acknowledged goes again, in order, as DUP.
			this.#window.resend();
		} else if (this.#window.entries.length) {
			// A new session knows nothing of them: publish them again, first in line, as new messages.
			// An earlier connection's birth message is dropped: a fresh one goes.
			this.outbox.unshiftAll(this.#window.forget((entry) => birth === undefined || !birth.isBirth(entry)));
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
		this.#output.drop();
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
		this.#output.quiet = false;
		this.#timeoutChanged();
		this.#effects.stateChanged(state, reason);
	}

	/** A deadline may have come nearer, appeared or gone: what `wake` found is forgotten, and the driver asks again. */
	#timeoutChanged(): void {
		this.#nextWake = -2;
		this.#output.timeoutChanged = true;
	}
}
