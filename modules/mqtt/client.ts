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
import type { Host, Socket, TimerHandle, Utf8Encoder } from "platform";
import type { QoS, Will } from "mqtt/packets";
import type { ClientOptions, PublishOptions, SessionState } from "mqtt/client-options";
import { Session, type InboundMessage, type MessageHandler, type SessionErrorKind, type SessionStats, type SessionStatus } from "mqtt/session";
import type { PublishOutcome } from "mqtt/outbox";
import { Backoff } from "backoff";
import { encodeUtf8 } from "utf8";
import { BrokerAddress } from "net/resolution";
import { Connector } from "net/connector";

export type { ClientOptions, InboundMessage, MessageHandler, PublishOptions, PublishOutcome, SessionState, SessionStats };

/** A publish's onOutcome, checked. */
function outcomeCallback(onOutcome: PublishOptions["onOutcome"]): PublishOptions["onOutcome"] {
	if (onOutcome !== undefined && typeof onOutcome !== "function") throw new TypeError("onOutcome must be a function");
	return onOutcome;
}

type ClientEvents = Pick<ClientOptions, "onStateChange" | "onConnect" | "onResolved" | "onError" | "onSkipped">;

/** Reads up to this many bytes go into the client's own buffer; larger ones are allocated. */
const inputSize = 256;

export class MqttClient {
	/** Private: the application uses the client's API and counts, never the protocol state underneath. */
	readonly #session: Session;
	/** What the session leaves after each input: whether to ask transmit() and timeout(). Only the session writes it. */
	readonly #status: SessionStatus;
	// What is read of the options after the constructor, as fields; of the options object itself only its callbacks are used later (#events).
	readonly #port: number;
	readonly #tls: ClientOptions["tls"];
	readonly #reconnect: boolean;
	/** The application's callbacks, called as its methods: they may live on a prototype (in flash) rather than be closures. */
	readonly #events: ClientEvents;
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
	/**
	 * The application's callbacks raised while the session handled an input
	 * (a state, a connection, an error), called once the session's call has
	 * returned: its effects never call back into it.
	 */
	#reports: (() => void)[] = [];
	#reportsWaiting = false;

	constructor(options: ClientOptions) {
		const host = this.#host = options.host;
		this.#clock = host.clock;
		this.#payloadEncoder = host.utf8Encoder ?? { encode: encodeUtf8 };
		if (typeof options.address !== "string" || !options.address) throw new TypeError("address must be a host name or IP address");
		if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) throw new RangeError(`port must be 1-65535, got ${options.port}`);
		this.#port = options.port;
		this.#tls = options.tls;
		this.#reconnect = options.reconnect !== false;
		const events = this.#events = options;
		this.#connector = new Connector(host, new BrokerAddress(options.address, { servers: options.dns?.servers ?? [], timeout: options.dns?.timeout ?? 5000 }));
		const message = (given: ClientOptions["will"]): Will | undefined => given && {
			topic: given.topic, qos: given.qos, retain: given.retain, payload: typeof given.payload === "string" ? encodeUtf8(given.payload) : given.payload,
		};
		this.#wakeCallback = () => {
			// The timer is spent: forget it, so the same time is armed again if it is still wanted
			// (a host timer may fire a little before its clock says it is due).
			this.#timer = this.#timerDue = undefined;
			this.#reconnectChanged = true;
			// #begin and #done, inlined: a keepalive check wakes the client every other reading.
			const outer = !this.#busy;
			this.#busy = true;
			this.#room = 0;
			const now = host.clock.now();
			if (this.#reconnectDue >= 0 && now >= this.#reconnectDue) this.#connect(now);
			else this.#session.wake(now);
			if (!outer) return;
			this.#busy = false;
			this.#flush(now);
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
			// Delivery is the one callback that may call the session: a handler publishes, and it queues.
			...(options.onMessage ? { deliver: options.onMessage } : {}),
			stateChanged: (state, reason) => {
				if (state === "connecting" || state === "connected") this.#setState(state, reason);
			},
			connected: (sessionPresent) => {
				this.backoff.reset();
				if (events.onConnect) this.#report(() => events.onConnect?.({ sessionPresent }));
			},
			error: (kind, message) => this.#reportError(kind, message),
			...(events.onSkipped ? { skipped: (topic: string | undefined, reason: string) => this.#report(() => events.onSkipped?.({ topic, reason })) } : {}),
		});
		this.#status = this.#session.status;
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
			: options.supersede !== true && options.onOutcome === undefined ? this.#session.publish(now, topic, bytes, options.qos ?? 0, options.retain ?? false, this.#room)
			: this.#session.publishWith(now, topic, bytes, options.qos ?? 0, options.retain ?? false, this.#room, options.supersede === true, outcomeCallback(options.onOutcome));
		if (typeof taken === "object") {
			// The hot path: the session had nothing waiting, and the packet fits the budget.
			this.#budget = this.#room = this.#socket!.write(taken);
			return true;
		}
		// Taken, or refused with an error to report: either is done with once the call has returned.
		if (!this.#busy) this.#flush(now);
		return taken;
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
		if (this.#reportsWaiting) this.#tell();
		// After most inputs (an inbound message, an ack) there is nothing to send: not even asked.
		if (this.#pending !== undefined || !this.#status.quiet) this.#pump(now);
		if (this.#reportsWaiting) this.#tell();
		this.#busy = false;
		this.#room = this.#socket !== undefined && this.#socketReady && this.#pending === undefined ? this.#budget : 0;
		// end(): done when nothing is in flight any more, the time is up, or the connection is gone.
		if (this.#endDue >= 0 && (this.#session.inflight === 0 || now >= this.#endDue || this.#state !== "connected")) return this.stop();
		this.#arm(now);
	}

	/** Writes what the session has, within the budget: the rest waits for the next onWritable. */
	#pump(now: number): void {
		const socket = this.#socket;
		if (socket === undefined || !this.#socketReady) return;
		const session = this.#session;
		const status = this.#status;
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
					if (status.quiet) break;
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
			...(this.#events.onResolved ? { resolved: (name: string, address: string) => this.#events.onResolved?.(name, address) } : {}),
		});
	}

	#openSocket(address: string): void {
		const host = this.#host;
		const session = this.#session;
		const status = this.#status;
		this.#socketReady = false;
		this.#budget = 0;
		this.#pending = undefined;
		// Callbacks from a socket we already closed must be ignored: each checks it is still this.#socket.
		let socket: Socket | undefined;
		try {
			socket = this.#socket = host.openSocket({
				address,
				port: this.#port,
				...(this.#tls ? { tls: this.#tls } : {}),
				onWritable: (count: number) => {
					// Every TCP acknowledgement comes here.
					if (socket === undefined || socket !== this.#socket) return;
					this.#budget = count;
					// Most calls are the TCP acknowledgement of what was written, with nothing waiting to
					// go and no timer to move: what #flush would do comes down to the room.
					if (this.#socketReady && !this.#busy && this.#pending === undefined && status.quiet && !status.timeoutChanged && !this.#reconnectChanged && this.#endDue < 0) {
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
					const quiet = this.#pending === undefined && status.quiet && !status.timeoutChanged && !this.#reconnectChanged && this.#endDue < 0;
					if (quiet && this.#socket === socket) this.#room = this.#budget;
					else this.#flush(now);
				},
				onError: (message?: string) => {
					if (socket === undefined || socket !== this.#socket) return;
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
		this.#reportError(kind, reason);
		// Ending: the connection is gone, so there is nothing left to wait for.
		if (this.#endDue >= 0) this.#endDue = 0;
		if (this.#wanted !== "up") return;
		if (!this.#reconnect) {
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
		const events = this.#events;
		if (events.onStateChange) this.#report(() => events.onStateChange?.(state, reason));
	}

	#reportError(kind: SessionErrorKind, message: string): void {
		const events = this.#events;
		if (events.onError) this.#report(() => events.onError?.(kind, message));
	}

	/** The application is told what the session raised; what it does then (publish, stop) only queues. */
	#tell(): void {
		this.#reportsWaiting = false;
		while (this.#reports.length > 0) {
			const reports = this.#reports;
			this.#reports = [];
			for (const report of reports) report();
		}
	}

	/** Told once the input is handled (see #reports). */
	#report(report: () => void): void {
		this.#reports.push(report);
		this.#reportsWaiting = true;
		// The input's end takes the long way, through #flush, where they are told.
		this.#reconnectChanged = true;
	}

	/** The one timer, armed for the earlier of the session's time and the client's own; `now` is the input's. */
	#arm(now: number): void {
		if (!this.#status.timeoutChanged && !this.#reconnectChanged) return;
		this.#reconnectChanged = false;
		const sessionDue = this.#session.timeout();
		const reconnect = this.#reconnectDue >= 0 ? this.#reconnectDue : this.#endDue;
		const due = reconnect < 0 ? sessionDue : sessionDue === undefined || reconnect < sessionDue ? reconnect : sessionDue;
		if (due === this.#timerDue) return;
		const timers = this.#host.timers;
		if (this.#timer !== undefined) timers.clear(this.#timer);
		this.#timerDue = due;
		this.#timer = due === undefined ? undefined : timers.set(this.#wakeCallback, due > now ? due - now : 0);
	}
}
