/*
 * The session's subscriptions: what the application subscribed to, what
 * the broker has granted on this session, and the SUBSCRIBE/UNSUBSCRIBE
 * requests awaiting their SUBACK/UNSUBACK. It owns the routes that hand
 * inbound messages to handlers. It writes nothing itself: each call that
 * needs a packet sent returns its bytes, and the session queues them among
 * its other control packets, so their order on the wire stays the session's.
 */
import { PacketType, type QoS } from "mqtt/packets";
import { encode } from "mqtt/codec";
import { validateTopicFilter } from "mqtt/topic";
import { Routes, type DirectLimits, type DirectRoute, type MessageHandler } from "mqtt/routes";

interface SubscriptionState {
	qos: QoS;
	/** The broker granted it on this session. */
	granted: boolean;
	/** Told the first SUBACK's code for it: the granted QoS, or 0x80 if refused. */
	onResult?: ((code: number) => void) | undefined;
}

/** Where a refusal, or an application callback's exception, is reported. */
export type SubscriptionError = (kind: "subscription" | "handler", message: string) => void;

export class Subscriptions {
	/** Hands inbound messages to the handlers subscribed for them. */
	readonly routes: Routes;
	/**
	 * Packet ids held by SUBSCRIBE/UNSUBSCRIBE requests awaiting their answer.
	 * A field, read by the session's packet id allocator on the hot path;
	 * only this class writes it.
	 */
	heldIds = 0;
	/** The exact topics the session's direct lane may deliver (see Routes.directRoutes); undefined when none. */
	directRoutes: Map<string, DirectRoute> | undefined;
	readonly #filters = new Map<string, SubscriptionState>();
	readonly #pendingSubscribes = new Map<number, string[]>();
	readonly #pendingUnsubscribes = new Map<number, (() => void) | undefined>();
	// Filters to unsubscribe from at the next CONNACK: asked for while offline.
	readonly #unsubscribeOnConnect = new Map<string, (() => void) | undefined>();
	/** Undefined: no direct lane (the host has no native UTF-8 decoder to read a topic in one call). */
	readonly #directLimits: DirectLimits | undefined;
	readonly #allocateId: () => number;
	readonly #error: SubscriptionError;

	constructor(deliver: MessageHandler | undefined, directLimits: DirectLimits | undefined, allocateId: () => number, error: SubscriptionError) {
		this.routes = new Routes(deliver);
		this.#directLimits = directLimits;
		this.#allocateId = allocateId;
		this.#error = error;
	}

	get filters(): ReadonlyMap<string, { qos: QoS; granted: boolean }> {
		return this.#filters;
	}

	/** An id of ours is awaiting its SUBACK or UNSUBACK. */
	holds(packetId: number): boolean {
		return this.#pendingSubscribes.has(packetId) || this.#pendingUnsubscribes.has(packetId);
	}

	/**
	 * Records a subscription (replacing the filter's handler, if one is
	 * given). Returns the SUBSCRIBE to send when connected; otherwise it goes
	 * at the next CONNACK. Throws on a bad argument, having changed nothing.
	 */
	subscribe(filter: string, qos: QoS, handler: MessageHandler | undefined, onResult: ((code: number) => void) | undefined, connected: boolean): Uint8Array | undefined {
		const problem = validateTopicFilter(filter);
		if (problem) throw new TypeError(problem);
		if (qos !== 0 && qos !== 1 && qos !== 2) throw new RangeError(`QoS must be 0, 1 or 2, got ${String(qos)}`);
		if (handler !== undefined && typeof handler !== "function") throw new TypeError("handler must be a function");
		this.#filters.set(filter, { qos, granted: false, onResult });
		this.#unsubscribeOnConnect.delete(filter);
		if (handler !== undefined) this.#setHandler(filter, handler);
		return connected ? this.#subscribePacket([filter]) : undefined;
	}

	/**
	 * Forgets a subscription and its handler. Returns the UNSUBSCRIBE to send
	 * when connected; otherwise it goes at the next CONNACK. It goes even for
	 * a filter not subscribed here: a persistent session may hold it from an
	 * earlier boot.
	 */
	unsubscribe(filter: string, onDone: (() => void) | undefined, connected: boolean): Uint8Array | undefined {
		const problem = validateTopicFilter(filter);
		if (problem) throw new TypeError(problem);
		this.#setHandler(filter, undefined);
		this.#filters.delete(filter);
		if (connected) return this.#unsubscribePacket(filter, onDone);
		this.#unsubscribeOnConnect.set(filter, onDone);
		return undefined;
	}

	/**
	 * CONNACK accepted: the requests to send first, in order. A SUBSCRIBE for
	 * every filter the broker does not hold for us (all of them on a new
	 * session), then the unsubscriptions asked for while offline. Answers
	 * owed on the earlier connection will not come.
	 */
	connected(sessionPresent: boolean): Uint8Array[] {
		const filters: string[] = [];
		for (const [filter, subscription] of this.#filters) {
			if (!sessionPresent) subscription.granted = false;
			if (!subscription.granted) filters.push(filter);
		}
		this.#pendingSubscribes.clear();
		this.heldIds = this.#pendingUnsubscribes.size;
		const packets: Uint8Array[] = [];
		if (filters.length) packets.push(this.#subscribePacket(filters));
		for (const [filter, onDone] of this.#unsubscribeOnConnect) packets.push(this.#unsubscribePacket(filter, onDone));
		this.#unsubscribeOnConnect.clear();
		return packets;
	}

	/** A SUBACK: false when it answers no request of ours (a protocol error). */
	receiveSuback(packetId: number, returnCodes: number[]): boolean {
		const filters = this.#pendingSubscribes.get(packetId);
		if (!filters) return false;
		this.#pendingSubscribes.delete(packetId);
		this.heldIds--;
		filters.forEach((filter, i) => {
			const code = returnCodes[i];
			const subscription = this.#filters.get(filter);
			if (code === 0x80 || code === undefined) {
				this.#error("subscription", `broker refused the subscription to ${filter}`);
			} else if (subscription) {
				subscription.granted = true;
			}
			const onResult = subscription?.onResult;
			if (onResult !== undefined) {
				subscription!.onResult = undefined;
				this.#report(onResult, code ?? 0x80, filter);
			}
		});
		return true;
	}

	/** An UNSUBACK; one for no request of ours is ignored. */
	receiveUnsuback(packetId: number): void {
		if (!this.#pendingUnsubscribes.has(packetId)) return;
		const onDone = this.#pendingUnsubscribes.get(packetId);
		this.#pendingUnsubscribes.delete(packetId);
		this.heldIds--;
		if (onDone !== undefined) this.#report(onDone, 0, "UNSUBACK");
	}

	#subscribePacket(filters: string[]): Uint8Array {
		const packetId = this.#allocateId();
		this.#pendingSubscribes.set(packetId, filters);
		this.heldIds++;
		return encode({
			type: PacketType.Subscribe, packetId,
			subscriptions: filters.map((filter) => ({ filter, qos: this.#filters.get(filter)!.qos })),
		});
	}

	#unsubscribePacket(filter: string, onDone: (() => void) | undefined): Uint8Array {
		const packetId = this.#allocateId();
		this.#pendingUnsubscribes.set(packetId, onDone);
		this.heldIds++;
		return encode({ type: PacketType.Unsubscribe, packetId, filters: [filter] });
	}

	#setHandler(filter: string, handler: MessageHandler | undefined): void {
		this.routes.set(filter, handler);
		const limits = this.#directLimits;
		this.directRoutes = limits ? this.routes.directRoutes(limits) : undefined;
	}

	/** Calls an application's result callback; its exception is reported, never breaks the session. */
	#report<T>(callback: (value: T) => void, value: T, what: string): void {
		try {
			callback(value);
		} catch (error) {
			this.#error("handler", `${what} result callback threw: ${(error as Error)?.message ?? String(error)}`);
		}
	}
}
