/*
 * MqttClient: the session state machine (mqtt/session) bound to a host's
 * socket, timer and clock. Non-blocking, in the style of Moddable's
 * ECMA-419 classes: options in, callbacks out, no call ever waits.
 *
 * It drives the session as quinn-proto's endpoint drives a connection:
 * after each input (bytes in, a timer, an API call) it pulls the packets the
 * session has, writes them within the budget the socket last announced
 * through onWritable(count), a packet in slices if need be, keeps the rest
 * for the next onWritable, and arms the one timer the session asks for.
 * Nothing is written while the session is handling an input: a publish
 * from a message handler waits until the handler's input is done.
 *
 * It also supervises: the session handles one connection at a time, and
 * the client decides when to open the next one (exponential backoff with
 * full jitter; a refusal for bad credentials or authorisation waits the
 * maximum, never a tight loop), and suspends while the network is down.
 *
 *   const client = new MqttClient({ host, address: "127.0.0.1", port: 1883, clientId: "room1",
 *     onMessage(message) { ... } });
 *   client.subscribe("control/room1/led", 1);
 *   client.start();
 *   client.publish("sensors/room1/temp", '{"temperature":21.5}', { qos: 1 });
 */
import type { Host, Socket, TimerHandle, TlsOptions, Utf8Encoder } from "platform";
import type { QoS, Will } from "mqtt/packets";
import { Session, type InboundMessage, type MessageHandler, type SessionErrorKind, type SessionStats } from "mqtt/session";
import type { OutboxOptions, PublishOutcome } from "mqtt/outbox";
import { Backoff, type BackoffOptions } from "backoff";
import { encodeUtf8 } from "utf8";
import { BrokerAddress } from "net/resolution";
import { Connector } from "net/connector";

export type { InboundMessage, MessageHandler, PublishOutcome, SessionStats };

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

/** Reads up to this many bytes go into the client's own buffer; larger ones are allocated. */
const inputSize = 256;

export class MqttClient {
	/** Private: the application uses the client's API and counts, never the protocol state underneath. */
	readonly #session: Session;
	readonly #options: ClientOptions;
	readonly #host: Host;
	readonly #clock: Host["clock"];
	/** String payloads: the host's native encoder, else MQTT's checked one in JS. */
	readonly #payloadEncoder: Utf8Encoder;
	readonly #wakeCallback: () => void;
	readonly #connector: Connector;
	#socket: Socket | undefined;
	/** onWritable has been seen on the current socket: it is connected. */
	#socketReady = false;
	/** Bytes the socket takes now, as its last onWritable and writes since left it. */
	#budget = 0;
	/** What a publish may write at once: the budget when nothing is pending and no input is being handled, else 0. */
	#room = 0;
	/** A packet only partly written, and how much of it went. */
	#pending: Uint8Array | undefined;
	#pendingOffset = 0;
	/** An input is being handled: output waits until it is done. */
	#busy = false;
	/** What the application asked for: a connection kept up, none for now (suspended), or none (stopped). */
	#wanted: "none" | "up" | "suspended" = "none";
	#state: SessionState = "idle";
	/** When to open the next connection; -1: not waiting. */
	#reconnectDue = -1;
	/** The reconnect or end time changed: the timer must be armed again. */
	#reconnectChanged = false;
	/** After end(): when to stop even if messages are still in flight; -1: not ending. */
	#endDue = -1;
	readonly backoff: Backoff;
	#timer: TimerHandle | undefined;
	#timerDue: number | undefined;
	/** Inbound bytes of small reads, and views of it by length (see onReadable). The session keeps none past `receive`. */
	readonly #input = new Uint8Array(inputSize);
	#inputViews: (Uint8Array | undefined)[] = [];
	#inputViewCount = 0;

	constructor(options: ClientOptions) {
		this.#options = options;
		const host = this.#host = options.host;
		this.#clock = host.clock;
		this.#payloadEncoder = host.utf8Encoder ?? { encode: encodeUtf8 };
		if (typeof options.address !== "string" || !options.address) throw new TypeError("address must be a host name or IP address");
		if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) throw new RangeError(`port must be 1-65535, got ${options.port}`);
		this.#connector = new Connector(host, new BrokerAddress(options.address, { servers: options.dns?.servers ?? [], timeout: options.dns?.timeout ?? 5000 }));
		const message = (given: ClientOptions["will"]): Will | undefined => given && {
			topic: given.topic, qos: given.qos, retain: given.retain, payload: typeof given.payload === "string" ? encodeUtf8(given.payload) : given.payload,
		};
		this.#wakeCallback = () => {
			// The timer is spent: forget it, so the same time is armed again if it is still wanted
			// (a host timer may fire a little before its clock says it is due).
			this.#timer = this.#timerDue = undefined;
			this.#reconnectChanged = true;
			const outer = this.#begin();
			const now = host.clock.now();
			if (this.#reconnectDue >= 0 && now >= this.#reconnectDue) this.#connect(now);
			else this.#session.wake(now);
			this.#done(outer);
		};
		this.backoff = new Backoff({ minimum: 1000, maximum: 60000, factor: 2, ...options.backoff }, options.random ?? Math.random);
		this.#session = new Session({
			clientId: options.clientId,
			cleanSession: options.cleanSession ?? false,
			keepalive: options.keepalive ?? 30,
			username: options.username || undefined,
			password: options.password ? encodeUtf8(options.password) : undefined,
			will: message(options.will),
			birth: message(options.birth),
			connackTimeout: options.connackTimeout ?? 10000,
			pingTimeout: options.pingTimeout ?? 5000,
			outbox: { maxMessages: 100, maxBytes: 16384, policy: "drop-oldest", ...options.outbox },
			maxInflight: options.maxInflight ?? 10,
			maxInboundPending: options.maxInboundPending ?? 32,
			maxPacketSize: options.maxPacketSize ?? 4096,
			maxTopicBytes: options.maxTopicBytes,
			oversize: options.oversize ?? "skip",
			utf8: host.utf8,
		}, {
			closeTransport: () => this.#close(),
			failed: (kind, reason, atMaximum) => this.#failed(kind, reason, atMaximum),
			...(options.onMessage ? { deliver: options.onMessage } : {}),
			stateChanged: (state, reason) => {
				if (state === "connecting" || state === "connected") this.#setState(state, reason);
			},
			connected: (sessionPresent) => {
				this.backoff.reset();
				options.onConnect?.({ sessionPresent });
			},
			error: (kind, message) => options.onError?.(kind, message),
			...(options.onSkipped ? { skipped: (topic: string | undefined, reason: string) => options.onSkipped!({ topic, reason }) } : {}),
		});
	}

	get state(): SessionState {
		return this.#state;
	}

	get stats(): Readonly<SessionStats> {
		return this.#session.stats;
	}

	/** Connects, and keeps reconnecting from then on. */
	start(): void {
		if (this.#wanted !== "none") return;
		const outer = this.#begin();
		this.#wanted = "up";
		this.#connect(this.#host.clock.now());
		this.#done(outer);
	}

	/** Orderly: DISCONNECT, close, no reconnect. The broker discards the will. */
	stop(): void {
		const outer = this.#begin();
		this.#wanted = "none";
		this.#endDue = -1;
		this.#setReconnect(-1);
		this.#session.disconnect(this.#host.clock.now());
		this.#setState("stopped", "stopped by the application");
		this.#session.abandonAll();
		this.#done(outer);
	}

	/**
	 * Orderly end that lets the QoS 1/2 messages in flight complete, for up
	 * to `timeout` ms, then stops as `stop()` does (DISCONNECT, no will).
	 * What is still in flight then is abandoned; the outbox is kept.
	 */
	end(timeout = 5000): void {
		if (this.#state !== "connected" || this.#session.inflight === 0) return this.stop();
		this.#wanted = "none";
		this.#endDue = this.#host.clock.now() + timeout;
		this.#reconnectChanged = true;
		if (!this.#busy) this.#flush(this.#host.clock.now());
	}

	/** The network under us is gone (Wi-Fi dropped): close and wait for resume(). */
	suspend(reason = "network down"): void {
		if (this.#wanted !== "up") return;
		const outer = this.#begin();
		this.#wanted = "suspended";
		this.#setReconnect(-1);
		this.#session.abort(this.#host.clock.now(), reason);
		this.#setState("suspended", reason);
		this.#done(outer);
	}

	resume(): void {
		// The backoff was for the broker, not the link: connect at once.
		if (this.#wanted !== "suspended") return;
		const outer = this.#begin();
		this.#wanted = "up";
		this.#connect(this.#host.clock.now());
		this.#done(outer);
	}

	/**
	 * Publishes now, or queues in the bounded outbox while offline. Returns
	 * false if the outbox refused it (reject-new policy, counted in stats).
	 * Throws on a bad topic, QoS or payload.
	 */
	publish(topic: string, payload: Uint8Array | string, options?: PublishOptions): boolean {
		const bytes = typeof payload === "string" ? this.#payloadEncoder.encode(payload) : payload;
		if (!(bytes instanceof Uint8Array)) throw new TypeError("payload must be a Uint8Array or a string");
		const now = this.#clock.now();
		const taken = options === undefined ? this.#session.publish(now, topic, bytes, 0, false, this.#room)
			: options.supersede === true || options.onOutcome !== undefined ? this.#publishWith(now, topic, bytes, options)
			: this.#session.publish(now, topic, bytes, options.qos ?? 0, options.retain ?? false, this.#room);
		if (typeof taken === "object") {
			// The hot path: the session had nothing waiting, and the packet fits the budget.
			this.#budget = this.#room = this.#socket!.write(taken);
			return true;
		}
		if (taken && !this.#busy) this.#flush(now);
		return taken;
	}

	/** A publish with options the hot path does without. */
	#publishWith(now: number, topic: string, bytes: Uint8Array, options: PublishOptions): Uint8Array | boolean {
		const onOutcome = options.onOutcome;
		if (onOutcome !== undefined && typeof onOutcome !== "function") throw new TypeError("onOutcome must be a function");
		return this.#session.publishWith(now, topic, bytes, options.qos ?? 0, options.retain ?? false, this.#room, options.supersede === true, onOutcome);
	}

	/**
	 * Subscribes (again after every reconnect that needs it); `handler` gets
	 * the matching messages; `onResult` the broker's first answer: the
	 * granted QoS (0-2), or 0x80 if it refused.
	 */
	subscribe(filter: string, qos: QoS, handler?: MessageHandler, onResult?: (code: number) => void): void {
		const now = this.#host.clock.now();
		this.#session.subscribe(now, filter, qos, handler, onResult);
		if (!this.#busy) this.#flush(now);
	}

	/**
	 * Unsubscribes, now or once connected, even from a filter not subscribed
	 * here (a persistent session may hold it from an earlier boot);
	 * `onDone` is told when the broker's UNSUBACK arrives.
	 */
	unsubscribe(filter: string, onDone?: () => void): void {
		const now = this.#host.clock.now();
		this.#session.unsubscribe(now, filter, onDone);
		if (!this.#busy) this.#flush(now);
	}

	/** Messages waiting in the outbox. */
	get queued(): number {
		return this.#session.outbox.length;
	}

	/** Outbound QoS 1/2 messages not yet completed. */
	get inflight(): number {
		return this.#session.inflight;
	}

	/** Messages the broker has not taken yet, in flight then waiting, oldest first: for a client that replaces this one. */
	unsent(): { topic: string; payload: Uint8Array; qos: 0 | 1 | 2; retain: boolean }[] {
		return this.#session.unsent();
	}

	/** An input begins: nothing is written until #done. A nested one (an API call from a handler) only queues. */
	#begin(): boolean {
		const outer = !this.#busy;
		this.#busy = true;
		this.#room = 0;
		return outer;
	}

	/** The outermost input is handled: open a transport if asked, write what fits, arm the timer. */
	#done(outer: boolean): void {
		if (!outer) return;
		this.#busy = false;
		this.#flush(this.#host.clock.now());
	}

	#flush(now: number): void {
		if (this.#busy) return;
		this.#busy = true;
		this.#room = 0;
		// After most inputs (an inbound message, an ack) there is nothing to send: not even asked.
		if (this.#pending !== undefined || !this.#session.quiet) this.#pump(now);
		this.#busy = false;
		this.#room = this.#socket !== undefined && this.#socketReady && this.#pending === undefined ? this.#budget : 0;
		// end(): done when nothing is in flight any more, the time is up, or the connection is gone.
		if (this.#endDue >= 0 && (this.#session.inflight === 0 || now >= this.#endDue || this.#state !== "connected")) return this.stop();
		this.#arm();
	}

	/** Writes what the session has, within the budget: the rest waits for the next onWritable. */
	#pump(now: number): void {
		const socket = this.#socket;
		if (socket === undefined || !this.#socketReady) return;
		const session = this.#session;
		let budget = this.#budget;
		try {
			for (;;) {
				let packet = this.#pending;
				let offset = this.#pendingOffset;
				if (packet === undefined) {
					if (budget <= 0) break;
					packet = session.transmit(now);
					if (packet === undefined || socket !== this.#socket) break;
					offset = 0;
				}
				const left = packet.length - offset;
				if (left <= budget) {
					budget = socket.write(offset === 0 ? packet : packet.subarray(offset));
					this.#pending = undefined;
					if (session.quiet) break;
					continue;
				}
				// A packet larger than the budget goes in slices: fill the budget, keep the rest.
				if (budget > 0) {
					const end = offset + budget;
					budget = socket.write(packet.subarray(offset, end));
					offset = end;
				}
				this.#pending = packet;
				this.#pendingOffset = offset;
				break;
			}
		} catch (error) {
			// The socket refused what it had room for: it is broken.
			this.#fail(socket, error);
			return;
		}
		if (socket === this.#socket) this.#budget = budget;
	}

	#inputView(count: number): Uint8Array {
		// A few sizes recur (acks, commands); past a handful, start again rather than keep one for every size.
		if (this.#inputViewCount === 8) {
			this.#inputViews = [];
			this.#inputViewCount = 0;
		}
		this.#inputViewCount++;
		return this.#inputViews[count] = this.#input.subarray(0, count);
	}

	/** The session wants a transport: resolve the broker's name if need be, then open a socket. */
	#open(): void {
		// An answer that comes later is an input like any other: output and the timer follow it.
		const input = (action: () => void): void => {
			const outer = this.#begin();
			action();
			this.#done(outer);
		};
		this.#connector.open({
			connect: (address) => input(() => this.#openSocket(address)),
			fail: (reason) => input(() => this.#session.transportClosed(this.#host.clock.now(), reason)),
			...(this.#options.onResolved ? { resolved: this.#options.onResolved } : {}),
		});
	}

	#openSocket(address: string): void {
		const host = this.#host;
		const session = this.#session;
		this.#socketReady = false;
		this.#budget = 0;
		this.#pending = undefined;
		let socket: Socket | undefined;
		// Callbacks from a socket we already closed must be ignored.
		const current = (): boolean => socket !== undefined && socket === this.#socket;
		try {
			socket = this.#socket = host.openSocket({
				address,
				port: this.#options.port,
				...(this.#options.tls ? { tls: this.#options.tls } : {}),
				onWritable: (count: number) => {
					if (!current()) return;
					this.#budget = count;
					// Most calls are the TCP acknowledgement of what was written, with nothing waiting to
					// go and no timer to move: what #flush would do comes down to the room.
					if (this.#socketReady && !this.#busy && this.#pending === undefined && session.quiet && !session.timeoutChanged && !this.#reconnectChanged && this.#endDue < 0) {
						this.#room = count;
						return;
					}
					const outer = this.#begin();
					try {
						if (!this.#socketReady) {
							this.#socketReady = true;
							session.transportOpened(host.clock.now());
						}
					} catch (error) {
						this.#fail(socket!, error);
					}
					this.#done(outer);
				},
				// The hot path in: an inbound message, an ack. Inlined where a call would cost more than it does.
				onReadable: (count: number) => {
					if (socket === undefined || socket !== this.#socket) return;
					const outer = !this.#busy;
					this.#busy = true;
					this.#room = 0;
					const now = host.clock.now();
					try {
						if (outer && count > 0 && count <= inputSize) {
							// Into the client's own buffer, a view a size: reading a packet allocates nothing.
							let view = this.#inputViews[count];
							if (view === undefined) view = this.#inputView(count);
							const read = socket.read(view);
							if (read > 0) session.receive(now, read === count ? view : view.subarray(0, read));
						} else {
							const buffer = socket.read(count);
							if (buffer) session.receive(now, new Uint8Array(buffer));
						}
					} catch (error) {
						this.#fail(socket, error);
					}
					if (!outer) return;
					this.#busy = false;
					// Most inputs (an inbound message, an ack) leave nothing to write and no timer to move.
					const quiet = this.#pending === undefined && session.quiet && !session.timeoutChanged && !this.#reconnectChanged && this.#endDue < 0;
					if (quiet && this.#socket === socket) this.#room = this.#budget;
					else this.#flush(now);
				},
				onError: (message?: string) => {
					if (!current()) return;
					this.#socket = undefined;
					this.#pending = undefined;
					if (!this.#socketReady) this.#connector.connectionFailed();
					const outer = this.#begin();
					session.transportClosed(host.clock.now(), message ?? "connection lost");
					this.#done(outer);
				},
			});
		} catch (error) {
			this.#socket = undefined;
			this.#connector.connectionFailed();
			session.transportClosed(host.clock.now(), `cannot open a socket: ${(error as Error).message}`);
		}
	}

	/**
	 * Something threw while this socket's input was handled: no exception may
	 * reach a host callback (on XS that is an abort, a reset on a device), so
	 * it is treated as the transport failing, and the session reconnects.
	 */
	#fail(socket: Socket, error: unknown): void {
		if (socket !== this.#socket) return;
		this.#close();
		this.#session.transportClosed(this.#host.clock.now(), `transport failed: ${(error as Error)?.message ?? String(error)}`);
	}

	#close(): void {
		const socket = this.#socket;
		this.#socket = undefined;
		this.#pending = undefined;
		this.#budget = this.#room = 0;
		this.#connector.cancel();
		// Given up before it connected (no CONNACK in time): the address may be stale.
		if (socket && !this.#socketReady) this.#connector.connectionFailed();
		try {
			socket?.close();
		} catch {
			// Closing a socket that already failed is not an error worth reporting.
		}
	}

	/** A new connection: the session starts one, and the socket opens. */
	#connect(now: number): void {
		this.#setReconnect(-1);
		this.#session.connect(now);
		this.#open();
	}

	/** A connection failed: report it and, if one is still wanted, try again after the backoff. */
	#failed(kind: SessionErrorKind, reason: string, atMaximum: boolean): void {
		this.#options.onError?.(kind, reason);
		// Ending: the connection is gone, so there is nothing left to wait for.
		if (this.#endDue >= 0) this.#endDue = 0;
		if (this.#wanted !== "up") return;
		if (this.#options.reconnect === false) {
			this.#wanted = "none";
			this.#setState("idle", reason);
			return;
		}
		const delay = atMaximum ? this.backoff.nextAtMaximum() : this.backoff.next();
		this.#setReconnect(this.#host.clock.now() + delay);
		this.#setState("waiting", `${reason}; retrying in ${delay} ms`);
	}

	#setReconnect(due: number): void {
		if (due === this.#reconnectDue) return;
		this.#reconnectDue = due;
		this.#reconnectChanged = true;
	}

	#setState(state: SessionState, reason: string): void {
		if (this.#state === state) return;
		this.#state = state;
		this.#options.onStateChange?.(state, reason);
	}

	#arm(): void {
		const session = this.#session;
		if (!session.timeoutChanged && !this.#reconnectChanged) return;
		session.timeoutChanged = this.#reconnectChanged = false;
		const sessionDue = session.timeout();
		const reconnect = this.#reconnectDue >= 0 ? this.#reconnectDue : this.#endDue;
		const due = reconnect < 0 ? sessionDue : sessionDue === undefined || reconnect < sessionDue ? reconnect : sessionDue;
		if (due === this.#timerDue) return;
		const timers = this.#host.timers;
		if (this.#timer !== undefined) timers.clear(this.#timer);
		this.#timerDue = due;
		this.#timer = due === undefined ? undefined : timers.set(this.#wakeCallback, Math.max(0, due - this.#host.clock.now()));
	}
}
