/*
 * A portable, fully virtual host for scenario tests: a virtual clock,
 * sockets wired to a scripted MQTT broker, a Wi-Fi radio, a sensor and an
 * LED. Nothing real happens and nothing waits, so the same scenario runs
 * on Node and inside XS, and a week of device time takes milliseconds.
 */
import type { DigitalOutput, Host, HostDiagnostics, LogLevel, ResolveOptions, Utf8Decoder, Utf8Encoder, SensorOptions, Socket, SocketOptions, TemperatureSensor, TimerHandle, WifiEvent } from "platform";
import { PacketType, type Packet, type PublishPacket, type QoS } from "mqtt/packets";
import { PacketReader, encode } from "test/lib/broker-codec";
import { ReceivedBytes, TlsRecordBudget, WritableBudget, linWriteBudget } from "simulated/socket";
import { tlsRoom } from "net/tls-record";

interface VirtualTimer {
	id: number;
	/** When it fires: `early` ms before it is due, but never before the next ms. */
	due: number;
	callback: () => void;
	interval: number;
}

export class VirtualClock {
	now = 0;
	wall: number | undefined;
	/** ms a timer fires before the clock says it is due, as a real host's timer may. */
	early = 0;
	#timers: VirtualTimer[] = [];
	#next = 1;

	/** With an `interval`, it fires again every interval (on the grid of its due times) until cleared. */
	set(callback: () => void, delay: number, interval = 0): VirtualTimer {
		const timer = { id: this.#next++, due: this.now + (delay > 0 ? Math.max(1, delay - this.early) : 0), callback, interval };
		this.#timers.push(timer);
		return timer;
	}

	clear(timer: VirtualTimer | undefined): void {
		if (!timer) return;
		const index = this.#timers.indexOf(timer);
		if (index >= 0) this.#timers.splice(index, 1);
	}

	get pending(): number {
		return this.#timers.length;
	}

	/** Runs every timer due within `ms`, in time order, then sets the clock to the end. */
	advance(ms: number): void {
		const end = this.now + ms;
		for (;;) {
			let first: VirtualTimer | undefined;
			for (const timer of this.#timers) if (timer.due <= end && (!first || timer.due < first.due)) first = timer;
			if (!first) break;
			this.#timers.splice(this.#timers.indexOf(first), 1);
			this.now = Math.max(this.now, first.due);
			if (first.interval > 0) {
				first.due += first.interval;
				this.#timers.push(first);
			}
			first.callback();
		}
		this.now = end;
	}
}

/** Seeded PRNG (mulberry32): the same sequence on every host. */
export { seededRandom } from "backoff";

export interface BrokerBehaviour {
	/** CONNACK return code; 0 accepts. */
	connackCode: number;
	sessionPresent: boolean;
	/** Never answer CONNECT. */
	silentConnack: boolean;
	/** Never answer PINGREQ (a half-open link). */
	silentPings: boolean;
	/** Do not acknowledge QoS 1/2 publishes. */
	withholdAcks: boolean;
	/** Refuse these filters in SUBACK (0x80). */
	refuseFilters: string[];
}

/**
 * One connection from the device to the scripted broker. It behaves as
 * Moddable's sockets do: it takes at most `budget` bytes per turn (a
 * zero-delay timer of the virtual clock), throws "would block" past it, and
 * announces the budget again through onWritable on the next turn after a
 * write. The broker's answers arrive on a later turn, never during write().
 */
export class FakeConnection implements Socket {
	readonly options: SocketOptions;
	readonly received: Packet[] = [];
	open = true;
	/** Bytes per turn. */
	readonly budget: number;
	/** Bytes written, and the largest number written in one turn. */
	written = 0;
	mostInOneTurn = 0;
	readonly #writable: WritableBudget;
	/** Bytes written since the last announce. */
	#turn = 0;
	#refill: unknown;
	#writing = false;
	readonly #received = new ReceivedBytes();
	readonly #broker: FakeBroker;
	readonly #clock: VirtualClock;
	readonly #reader: PacketReader;

	constructor(broker: FakeBroker, clock: VirtualClock, options: SocketOptions, budget: number) {
		this.#broker = broker;
		this.#clock = clock;
		this.options = options;
		this.budget = budget;
		// Over TLS, Moddable's TLS socket: each write a record with its overhead.
		this.#writable = options.tls ? new TlsRecordBudget() : new WritableBudget();
		this.#reader = new PacketReader((packet) => {
			if (typeof packet === "string") {
				broker.errors.push(packet);
				return;
			}
			// A PUBLISH's payload is a view of the bytes read: keep a copy.
			const kept = packet.type === PacketType.Publish ? { ...packet, payload: packet.payload.slice() } : packet;
			this.received.push(kept);
			broker.handle(this, kept);
		});
	}

	// --- the device's side (ECMA-419 shape)
	read(into: Uint8Array): number;
	read(count?: number): ArrayBuffer | undefined;
	read(...request: unknown[]): ArrayBuffer | number | undefined {
		return this.#received.readWith(request);
	}

	write(bytes: ArrayBufferLike | ArrayBufferView): number {
		const view = this.#writable.take(bytes);
		this.written += view.length;
		this.#turn += view.length;
		this.mostInOneTurn = Math.max(this.mostInOneTurn, this.#turn);
		if (this.#refill === undefined) this.#refill = this.#clock.set(() => this.announce(), 0);
		// As hosts/moddable/socket does over Moddable's TLS socket: room for the next record's overhead.
		const left = this.options.tls ? tlsRoom(this.#writable.left) : this.#writable.left;
		if (!this.open) return left;
		this.#broker.bytesFromDevice += view.length;
		this.#writing = true;
		try {
			this.#reader.push(view);
		} finally {
			this.#writing = false;
		}
		return left;
	}

	/** A new turn: the whole budget again, announced as Moddable's sockets announce it. */
	announce(): void {
		this.#refill = undefined;
		if (!this.open) return;
		this.#writable.grant(this.budget);
		this.#turn = 0;
		this.options.onWritable(this.#writable.left);
	}

	close(): void {
		if (!this.open) return;
		this.open = false;
		this.#broker.closed(this, true);
	}

	// --- the broker's side
	sendPacket(packet: Packet): void {
		this.sendBytes(encode(packet));
	}

	sendBytes(bytes: Uint8Array): void {
		if (!this.open) return;
		if (this.#writing) {
			// An answer to what the device is writing comes on a later turn.
			this.#clock.set(() => this.sendBytes(bytes), 0);
			return;
		}
		this.options.onReadable(this.#received.push(bytes));
	}

	/** The broker or the network drops the connection (after what it sent before, if the device is writing). */
	drop(message = "connection reset"): void {
		if (!this.open) return;
		if (this.#writing) {
			this.#clock.set(() => this.drop(message), 0);
			return;
		}
		this.open = false;
		this.#broker.closed(this, false);
		this.options.onError(message);
	}
}

/**
 * A scripted MQTT broker, enough of one for the firmware: CONNACK,
 * SUBACK, QoS 1/2 acknowledgements, PINGRESP, retained messages and the
 * will. Connections open on the next tick of the virtual clock.
 */
export class FakeBroker {
	readonly behaviour: BrokerBehaviour = { connackCode: 0, sessionPresent: false, silentConnack: false, silentPings: false, withholdAcks: false, refuseFilters: [] };
	readonly connections: FakeConnection[] = [];
	/** Every PUBLISH the device sent, in order, retransmissions included. */
	readonly published: PublishPacket[] = [];
	readonly retained = new Map<string, PublishPacket>();
	readonly wills: PublishPacket[] = [];
	readonly errors: string[] = [];
	up = true;
	bytesFromDevice = 0;
	/** Bytes the device's socket takes per turn: Moddable's lin socket's by default. */
	socketBudget = linWriteBudget;
	readonly #clock: VirtualClock;
	readonly #wills = new Map<FakeConnection, PublishPacket>();
	#subscriptions = new Map<FakeConnection, Set<string>>();
	#nextId = 1;

	constructor(clock: VirtualClock) {
		this.#clock = clock;
	}

	get current(): FakeConnection | undefined {
		const last = this.connections[this.connections.length - 1];
		return last?.open ? last : undefined;
	}

	connect(options: SocketOptions): FakeConnection {
		const connection = new FakeConnection(this, this.#clock, options, this.socketBudget);
		this.connections.push(connection);
		this.#clock.set(() => {
			if (!connection.open) return;
			if (!this.up) return connection.drop("connection refused");
			connection.announce();
		}, 1);
		return connection;
	}

	handle(connection: FakeConnection, packet: Packet): void {
		const b = this.behaviour;
		switch (packet.type) {
			case PacketType.Connect:
				if (packet.will) this.#wills.set(connection, { type: PacketType.Publish, topic: packet.will.topic, payload: packet.will.payload, qos: packet.will.qos, retain: packet.will.retain, dup: false });
				if (b.silentConnack) return;
				connection.sendPacket({ type: PacketType.Connack, sessionPresent: b.connackCode === 0 && b.sessionPresent, returnCode: b.connackCode });
				if (b.connackCode !== 0) connection.drop("refused");
				return;
			case PacketType.Subscribe:
				this.#subscriptions.set(connection, new Set(packet.subscriptions.map((s) => s.filter)));
				connection.sendPacket({ type: PacketType.Suback, packetId: packet.packetId, returnCodes: packet.subscriptions.map((s) => (b.refuseFilters.includes(s.filter) ? 0x80 : s.qos)) });
				return;
			case PacketType.Publish:
				this.published.push(packet);
				if (packet.retain) this.retained.set(packet.topic, packet);
				if (b.withholdAcks) return;
				if (packet.qos === 1) connection.sendPacket({ type: PacketType.Puback, packetId: packet.packetId! });
				else if (packet.qos === 2) connection.sendPacket({ type: PacketType.Pubrec, packetId: packet.packetId! });
				return;
			case PacketType.Pubrel:
				connection.sendPacket({ type: PacketType.Pubcomp, packetId: packet.packetId });
				return;
			case PacketType.Unsubscribe:
				for (const filter of packet.filters) this.#subscriptions.get(connection)?.delete(filter);
				connection.sendPacket({ type: PacketType.Unsuback, packetId: packet.packetId });
				return;
			case PacketType.Pingreq:
				if (!b.silentPings) connection.sendPacket({ type: PacketType.Pingresp });
				return;
			case PacketType.Disconnect:
				this.#wills.delete(connection);
				return;
		}
	}

	/** Sends a message to the device, as another client's publish would arrive. */
	deliver(topic: string, payload: Uint8Array | string, qos: QoS = 0, retain = false): void {
		const connection = this.current;
		if (!connection) throw new Error("no open connection to deliver on");
		const bytes = typeof payload === "string" ? Uint8Array.from(payload, (c) => c.charCodeAt(0)) : payload;
		connection.sendPacket({ type: PacketType.Publish, topic, payload: bytes, qos, retain, dup: false, ...(qos > 0 ? { packetId: this.#nextId++ } : {}) });
	}

	/** The connection ended; without DISCONNECT first, the will goes out. */
	closed(connection: FakeConnection, _byDevice: boolean): void {
		const will = this.#wills.get(connection);
		this.#wills.delete(connection);
		this.#subscriptions.delete(connection);
		if (will) {
			this.wills.push(will);
			if (will.retain) this.retained.set(will.topic, will);
		}
	}

	/** The broker goes down (every connection drops) or comes back. */
	setUp(up: boolean): void {
		this.up = up;
		if (!up) for (const connection of this.connections) connection.drop("broker went away");
	}

	publishedTo(topic: string): string[] {
		return this.published.filter((packet) => packet.topic === topic).map((packet) => text(packet.payload));
	}
}

/** The parts, one after another, in one new array. */
export function concat(parts: Uint8Array[]): Uint8Array {
	const total = parts.reduce((sum, part) => sum + part.length, 0);
	const result = new Uint8Array(total);
	let offset = 0;
	for (const part of parts) {
		result.set(part, offset);
		offset += part.length;
	}
	return result;
}

/** Bytes as lowercase hex, two digits each: for comparing and printing binary payloads. */
export function hex(bytes: Uint8Array): string {
	let out = "";
	for (let i = 0; i < bytes.length; i++) out += (bytes[i]! < 16 ? "0" : "") + bytes[i]!.toString(16);
	return out;
}

export function text(bytes: Uint8Array): string {
	let result = "";
	for (let i = 0; i < bytes.length; i++) result += String.fromCharCode(bytes[i]!);
	// The firmware's payloads are UTF-8; decode the one non-ASCII character it uses.
	return result.replace(/\u00c2\u00b0/g, "°");
}

export interface LogEntry {
	level: LogLevel;
	tag: string;
	message: string;
	fields?: Record<string, unknown> | undefined;
}

export class FakeHost implements Host {
	readonly name = "fake";
	readonly virtual = new VirtualClock();
	readonly broker = new FakeBroker(this.virtual);
	readonly logs: LogEntry[] = [];
	/** LED pin levels written, in order. */
	readonly ledLevels: (0 | 1)[] = [];
	ledPin: number | undefined;
	/** The sensor: a value, or a fault. */
	temperature: number | (() => number) = 21.5;
	sensorFault: "throw" | "nan" | "open" | undefined;
	sensorOptions: SensorOptions | undefined;
	/** % relative humidity the sensor reports with each sample; undefined: a sensor without it. */
	humidity: number | undefined;
	/** What the platform tells about itself; undefined: a host without diagnostics. */
	platform: HostDiagnostics | undefined;
	/** SNTP servers the firmware asked for, one per request. */
	readonly clockRequests: string[] = [];
	accessPointUp = true;
	/** The radio's MAC, which the default identity comes from (room1-dbc020); undefined: a radio without one. */
	mac: string | undefined = "a4:d1:8c:db:c0:20";
	wifiAssociateDelay = 100;
	#wifiListener: ((event: WifiEvent) => void) | undefined;
	wifiConnected = false;
	wifiAttempts = 0;
	exited = false;
	/** The native UTF-8 decoder every real host has; set undefined (before any client) to test without one. */
	utf8: Utf8Decoder | undefined = new (globalThis as unknown as { TextDecoder: new (label: string, options: { ignoreBOM: boolean }) => Utf8Decoder }).TextDecoder("utf-8", { ignoreBOM: true });
	/** The native UTF-8 encoder every real host has; set undefined (before any client) to test the JS fallback. */
	utf8Encoder: Utf8Encoder | undefined = new (globalThis as unknown as { TextEncoder: new () => Utf8Encoder }).TextEncoder();

	readonly clock = {
		now: (): number => this.virtual.now,
		wallTime: (): number | undefined => (this.virtual.wall === undefined ? undefined : this.virtual.wall + this.virtual.now),
	};

	readonly timers = {
		set: (callback: () => void, delay: number): TimerHandle => this.virtual.set(callback, delay),
		repeat: (callback: () => void, interval: number): TimerHandle => this.virtual.set(callback, interval, interval),
		clear: (handle: TimerHandle | undefined): void => this.virtual.clear(handle as VirtualTimer | undefined),
	};

	readonly log = (level: LogLevel, tag: string, message: string, fields?: Record<string, unknown>): void => {
		this.logs.push({ level, tag, message, fields });
	};

	readonly wifi = {
		connect: (_ssid: string, _password: string, onEvent: (event: WifiEvent) => void): void => {
			this.wifiAttempts++;
			this.#wifiListener = onEvent;
			this.virtual.set(() => {
				if (this.#wifiListener !== onEvent) return;
				if (!this.accessPointUp) return onEvent("disconnect");
				this.wifiConnected = true;
				onEvent("connect");
				onEvent("gotIP");
			}, this.wifiAssociateDelay);
		},
		disconnect: (): void => {
			this.#wifiListener = undefined;
			this.wifiConnected = false;
		},
		mac: (): string | undefined => this.mac,
	};

	/**
	 * The scripted DNS: a name's address, or a failure reason, answered after
	 * `dnsDelay`; a name not listed gets no answer at all.
	 */
	readonly dns = new Map<string, { address: string } | { error: string }>();
	dnsDelay = 20;
	/** Every look-up asked for: the name and the servers given. */
	readonly lookups: { host: string; servers: readonly string[]; at: number }[] = [];
	/** When set, connections to any other address are refused (the broker moved). */
	brokerAddress: string | undefined;

	resolve(options: ResolveOptions): void {
		this.lookups.push({ host: options.host, servers: options.servers, at: this.virtual.now });
		const answer = this.dns.get(options.host);
		if (!answer) return;
		this.virtual.set(() => {
			if ("address" in answer) options.onResolved(options.host, answer.address);
			else options.onError(options.host, answer.error);
		}, this.dnsDelay);
	}

	openSocket(options: SocketOptions): Socket {
		if (this.brokerAddress !== undefined && options.address !== this.brokerAddress) {
			let open = true;
			this.virtual.set(() => {
				if (open) options.onError(`connection to ${options.address} refused`);
				open = false;
			}, 1);
			return {
				read: (() => undefined) as Socket["read"],
				write: () => {
					throw new Error("would block");
				},
				close: () => void (open = false),
			};
		}
		return this.broker.connect(options);
	}

	openSensor(options: SensorOptions): TemperatureSensor {
		this.sensorOptions = options;
		if (this.sensorFault === "open") throw new Error("no sensor at the I2C address");
		return {
			sample: () => {
				if (this.sensorFault === "throw") throw new Error("I2C read failed");
				if (this.sensorFault === "nan") return { temperature: NaN };
				const temperature = typeof this.temperature === "function" ? this.temperature() : this.temperature;
				return this.humidity === undefined ? { temperature } : { temperature, humidity: this.humidity };
			},
		};
	}

	diagnostics(): HostDiagnostics {
		return this.platform ?? {};
	}

	syncClock(server: string): void {
		this.clockRequests.push(server);
	}

	openLed(pin: number): DigitalOutput {
		this.ledPin = pin;
		return { write: (value: 0 | 1) => void this.ledLevels.push(value) };
	}

	exit(): void {
		this.exited = true;
	}

	/** mDNS announcements asked for: the host name and the page's port. */
	readonly advertised: { hostName: string; httpPort: number | undefined }[] = [];

	advertise(hostName: string, httpPort: number | undefined): void {
		this.advertised.push({ hostName, httpPort });
	}

	/** The access point vanishes (the device sees a disconnect) or returns. */
	setAccessPoint(up: boolean): void {
		this.accessPointUp = up;
		if (!up && this.wifiConnected) {
			this.wifiConnected = false;
			this.broker.current?.drop("network unreachable");
			this.#wifiListener?.("disconnect");
		}
	}

	logged(tag: string, pattern: RegExp): LogEntry[] {
		return this.logs.filter((entry) => entry.tag === tag && pattern.test(entry.message));
	}
}
