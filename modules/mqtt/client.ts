/*
 * MqttClient: the session state machine (mqtt/session) bound to a host's
 * socket, timer and clock. Non-blocking, in the style of Moddable's
 * ECMA-419 classes: options in, callbacks out, no call ever waits.
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
	#socketReady = false;
	#timer: TimerHandle | undefined;

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
			this.#timer = undefined;
			this.session.wake(host.clock.now());
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
			openTransport: () => this.#open(),
			closeTransport: () => this.#close(),
			wakeAt: (time) => this.#arm(time),
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
		this.session.start(this.#host.clock.now());
	}

	/** Orderly: DISCONNECT, close, no reconnect. The broker discards the will. */
	stop(): void {
		this.session.stop(this.#host.clock.now());
	}

	/** The network under us is gone (Wi-Fi dropped): close and wait for resume(). */
	suspend(reason = "network down"): void {
		this.session.suspend(this.#host.clock.now(), reason);
	}

	resume(): void {
		this.session.resume(this.#host.clock.now());
	}

	/**
	 * Publishes now, or queues in the bounded outbox while offline. Returns
	 * false if the outbox refused it (reject-new policy, counted in stats).
	 * Throws on a bad topic, QoS or payload.
	 */
	publish(topic: string, payload: Uint8Array | string, options?: PublishOptions): boolean {
		const bytes = typeof payload === "string" ? this.#payloadEncoder.encode(payload) : payload;
		return this.session.publish(this.#host.clock.now(), topic, bytes, options?.qos ?? 0, options?.retain ?? false);
	}

	/** Subscribes (again after every reconnect that needs it); `handler` gets the matching messages. */
	subscribe(filter: string, qos: QoS, handler?: MessageHandler): void {
		this.session.subscribe(this.#host.clock.now(), filter, qos, handler);
	}

	unsubscribe(filter: string): void {
		this.session.unsubscribe(this.#host.clock.now(), filter);
	}

	#open(): void {
		const host = this.#host;
		const session = this.session;
		this.#socketReady = false;
		let socket: Socket | undefined;
		// Callbacks from a socket we already closed must be ignored.
		const current = (): boolean => socket !== undefined && socket === this.#socket;
		try {
			socket = this.#socket = host.openSocket({
				address: this.#options.address,
				port: this.#options.port,
				...(this.#options.tls ? { tls: this.#options.tls } : {}),
				onWritable: () => {
					if (!current() || this.#socketReady) return;
					this.#socketReady = true;
					session.attachWriter(socket!);
					session.transportOpened(host.clock.now());
				},
				onReadable: (count: number) => {
					if (!current()) return;
					const buffer = socket!.read(count);
					if (buffer) session.receive(host.clock.now(), new Uint8Array(buffer));
				},
				onError: (message?: string) => {
					if (!current()) return;
					this.#socket = undefined;
					session.transportClosed(host.clock.now(), message ?? "connection lost");
				},
			});
		} catch (error) {
			this.#socket = undefined;
			session.transportClosed(host.clock.now(), `cannot open a socket: ${(error as Error).message}`);
		}
	}

	#close(): void {
		const socket = this.#socket;
		this.#socket = undefined;
		try {
			socket?.close();
		} catch {
			// Closing a socket that already failed is not an error worth reporting.
		}
	}

	#arm(time: number | undefined): void {
		const timers = this.#host.timers;
		if (this.#timer !== undefined) timers.clear(this.#timer);
		this.#timer = time === undefined ? undefined : timers.set(this.#wakeCallback, Math.max(0, time - this.#host.clock.now()));
	}
}
