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
 *   const client = new MqttClient({ host, address: "127.0.0.1", port: 1883, clientId: "room1",
 *     onMessage(message) { ... } });
 *   client.subscribe("control/room1/led", 1);
 *   client.start();
 *   client.publish("sensors/room1/temp", '{"temperature":21.5}', { qos: 1 });
 */
import type { Host, Socket, TimerHandle, TlsOptions, Utf8Encoder } from "platform";
import type { QoS, Will } from "mqtt/packets";
import { Session, type InboundMessage, type MessageHandler, type SessionErrorKind, type SessionState, type SessionStats } from "mqtt/session";
import type { OutboxOptions } from "mqtt/outbox";
import type { BackoffOptions } from "backoff";
import { encodeUtf8 } from "mqtt/utf8";

export type { InboundMessage, MessageHandler, SessionState, SessionStats };


export interface ClientOptions {
	host: Host;
	address: string;
	port: number;
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
	/** Every inbound message, after any subscription handler. */
	onMessage?(message: InboundMessage): void;
	onError?(kind: SessionErrorKind, message: string): void;
}

export interface PublishOptions {
	qos?: QoS;
	retain?: boolean;
}

export class MqttClient {
	readonly session: Session;
	readonly #options: ClientOptions;
	readonly #host: Host;
	/** String payloads: the host's native encoder, else MQTT's checked one in JS. */
	readonly #payloadEncoder: Utf8Encoder;
	readonly #wakeCallback: () => void;
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
	#openWanted = false;
	#timer: TimerHandle | undefined;
	#timerDue: number | undefined;

	constructor(options: ClientOptions) {
		this.#options = options;
		const host = this.#host = options.host;
		this.#payloadEncoder = host.utf8Encoder ?? { encode: encodeUtf8 };
		if (typeof options.address !== "string" || !options.address) throw new TypeError("address must be a host name or IP address");
		if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) throw new RangeError(`port must be 1-65535, got ${options.port}`);
		const message = (given: ClientOptions["will"]): Will | undefined => given && {
			topic: given.topic, qos: given.qos, retain: given.retain, payload: typeof given.payload === "string" ? encodeUtf8(given.payload) : given.payload,
		};
		this.#wakeCallback = () => {
			// The timer is spent: forget it, so the same time is armed again if the session still wants it
			// (a host timer may fire a little before its clock says it is due).
			this.#timer = this.#timerDue = undefined;
			const outer = this.#begin();
			this.session.wake(host.clock.now());
			this.#done(outer);
		};
		this.session = new Session({
			clientId: options.clientId,
			cleanSession: options.cleanSession ?? false,
			keepalive: options.keepalive ?? 30,
			username: options.username || undefined,
			password: options.password ? encodeUtf8(options.password) : undefined,
			will: message(options.will),
			birth: message(options.birth),
			connackTimeout: options.connackTimeout ?? 10000,
			pingTimeout: options.pingTimeout ?? 5000,
			backoff: { minimum: 1000, maximum: 60000, factor: 2, ...options.backoff },
			random: options.random ?? Math.random,
			outbox: { maxMessages: 100, maxBytes: 16384, policy: "drop-oldest", ...options.outbox },
			maxInflight: options.maxInflight ?? 10,
			maxInboundPending: options.maxInboundPending ?? 32,
			maxPacketSize: options.maxPacketSize ?? 4096,
			maxTopicBytes: options.maxTopicBytes,
			oversize: options.oversize ?? "skip",
			utf8: host.utf8,
		}, {
			openTransport: () => {
				this.#openWanted = true;
			},
			closeTransport: () => this.#close(),
			...(options.onMessage ? { deliver: options.onMessage } : {}),
			stateChanged: (state, reason) => options.onStateChange?.(state, reason),
			connected: (sessionPresent) => options.onConnect?.({ sessionPresent }),
			error: (kind, message) => options.onError?.(kind, message),
		});
	}

	get state(): SessionState {
		return this.session.state;
	}

	get stats(): Readonly<SessionStats> {
		return this.session.stats;
	}

	/** Connects, and keeps reconnecting from then on. */
	start(): void {
		const outer = this.#begin();
		this.session.start(this.#host.clock.now());
		this.#done(outer);
	}

	/** Orderly: DISCONNECT, close, no reconnect. The broker discards the will. */
	stop(): void {
		const outer = this.#begin();
		this.session.stop(this.#host.clock.now());
		this.#done(outer);
	}

	/** The network under us is gone (Wi-Fi dropped): close and wait for resume(). */
	suspend(reason = "network down"): void {
		const outer = this.#begin();
		this.session.suspend(this.#host.clock.now(), reason);
		this.#done(outer);
	}

	resume(): void {
		const outer = this.#begin();
		this.session.resume(this.#host.clock.now());
		this.#done(outer);
	}

	/**
	 * Publishes now, or queues in the bounded outbox while offline. Returns
	 * false if the outbox refused it (reject-new policy, counted in stats).
	 * Throws on a bad topic, QoS or payload.
	 */
	publish(topic: string, payload: Uint8Array | string, options?: PublishOptions): boolean {
		const bytes = typeof payload === "string" ? this.#payloadEncoder.encode(payload) : payload;
		const now = this.#host.clock.now();
		const taken = this.session.publish(now, topic, bytes, options?.qos ?? 0, options?.retain ?? false, this.#room);
		if (typeof taken === "object") {
			// The hot path: the session had nothing waiting, and the packet fits the budget.
			this.#budget = this.#room = this.#socket!.write(taken);
			return true;
		}
		if (taken && !this.#busy) this.#flush(now);
		return taken;
	}

	/** Subscribes (again after every reconnect that needs it); `handler` gets the matching messages. */
	subscribe(filter: string, qos: QoS, handler?: MessageHandler): void {
		const now = this.#host.clock.now();
		this.session.subscribe(now, filter, qos, handler);
		if (!this.#busy) this.#flush(now);
	}

	unsubscribe(filter: string): void {
		const now = this.#host.clock.now();
		this.session.unsubscribe(now, filter);
		if (!this.#busy) this.#flush(now);
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
		if (this.#openWanted) {
			this.#openWanted = false;
			this.#open();
		}
		this.#pump(now);
		this.#busy = false;
		this.#room = this.#socket !== undefined && this.#socketReady && this.#pending === undefined ? this.#budget : 0;
		this.#arm();
	}

	/** Writes what the session has, within the budget: the rest waits for the next onWritable. */
	#pump(now: number): void {
		const socket = this.#socket;
		if (socket === undefined || !this.#socketReady) return;
		const session = this.session;
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

	/** Opens the socket. The one place it happens: resolving a name first would go here. */
	#open(): void {
		const host = this.#host;
		const session = this.session;
		this.#socketReady = false;
		this.#budget = 0;
		this.#pending = undefined;
		let socket: Socket | undefined;
		// Callbacks from a socket we already closed must be ignored.
		const current = (): boolean => socket !== undefined && socket === this.#socket;
		try {
			socket = this.#socket = host.openSocket({
				address: this.#options.address,
				port: this.#options.port,
				...(this.#options.tls ? { tls: this.#options.tls } : {}),
				onWritable: (count: number) => {
					if (!current()) return;
					this.#budget = count;
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
				onReadable: (count: number) => {
					if (!current()) return;
					const outer = this.#begin();
					try {
						const buffer = socket!.read(count);
						if (buffer) session.receive(host.clock.now(), new Uint8Array(buffer));
					} catch (error) {
						this.#fail(socket!, error);
					}
					this.#done(outer);
				},
				onError: (message?: string) => {
					if (!current()) return;
					this.#socket = undefined;
					this.#pending = undefined;
					const outer = this.#begin();
					session.transportClosed(host.clock.now(), message ?? "connection lost");
					this.#done(outer);
				},
			});
		} catch (error) {
			this.#socket = undefined;
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
		this.session.transportClosed(this.#host.clock.now(), `transport failed: ${(error as Error)?.message ?? String(error)}`);
	}

	#close(): void {
		const socket = this.#socket;
		this.#socket = undefined;
		this.#pending = undefined;
		this.#budget = this.#room = 0;
		this.#openWanted = false;
		try {
			socket?.close();
		} catch {
			// Closing a socket that already failed is not an error worth reporting.
		}
	}

	#arm(): void {
		const session = this.session;
		if (!session.timeoutChanged) return;
		session.timeoutChanged = false;
		const due = session.timeout();
		if (due === this.#timerDue) return;
		const timers = this.#host.timers;
		if (this.#timer !== undefined) timers.clear(this.#timer);
		this.#timerDue = due;
		this.#timer = due === undefined ? undefined : timers.set(this.#wakeCallback, Math.max(0, due - this.#host.clock.now()));
	}
}
