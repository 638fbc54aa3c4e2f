/*
 * The contract between the portable firmware and a host.
 *
 * Each host (hosts/esp32, hosts/mcsim, hosts/xsnap, hosts/node) exports a
 * `Host` from its module "host". The shapes follow the Moddable SDK and
 * ECMA-419 so that on a device the host can hand over Moddable's own objects
 * (`embedded:io/socket/tcp`, `embedded:io/digital`, sensor drivers) with
 * little or no wrapping. The firmware never touches a global: everything it
 * needs arrives through this object, which is what lets one scenario run
 * unchanged on Node, on XS and on the device.
 */

/** ECMA-419 `embedded:io/socket/tcp` options, in the subset the firmware uses. */
export interface SocketOptions {
	address: string;
	port: number;
	/** Present when the connection must be TLS; the host decides how. */
	tls?: TlsOptions;
	/** Bytes are ready to `read()`; the argument is how many. */
	onReadable(count: number): void;
	/**
	 * The socket can take `count` bytes now (its whole budget, not an
	 * increment); the first call means connected. Writing past the count
	 * throws "would block", as Moddable's sockets do on every host.
	 */
	onWritable(count: number): void;
	/** The connection failed or closed; the socket is dead after this. */
	onError(message?: string): void;
}

export interface TlsOptions {
	/** Name the server certificate must carry. */
	serverName: string;
	/** PEM text of the CA that must sign it; absent means the host's trust store. */
	ca?: string;
}

/**
 * ECMA-419 socket instance, `format: "buffer"`. `write` takes at most the
 * count the last `onWritable` announced, less what was written since; past
 * it, it throws "would block" and takes nothing. It returns the count left.
 * The budget comes back with the next `onWritable`.
 */
export interface Socket {
	/**
	 * Into a buffer: exactly its length, which must not exceed what arrived
	 * (Moddable's TCP socket throws "invalid" past it); returns the count.
	 * Reading into a buffer of its own lets a client allocate nothing per packet.
	 */
	read(into: Uint8Array): number;
	/** `count` bytes, all of them when omitted, in a new ArrayBuffer; undefined when nothing arrived. */
	read(count?: number): ArrayBuffer | undefined;
	write(bytes: ArrayBufferLike | ArrayBufferView): number;
	close(): void;
}

/**
 * One name look-up, shaped like ECMA-419's `embedded:network/dns/resolver`
 * `resolve()` options, plus the servers and timeout the configuration asks for.
 * Exactly one callback runs, and never before `resolve` has returned.
 */
export interface ResolveOptions {
	/** A DNS name; callers resolve IPv4 literals and `localhost` themselves. */
	host: string;
	/** IPv4 addresses of the DNS servers to ask (port 53); empty: the network's own. */
	servers: readonly string[];
	/** ms the caller will wait; a host may stop asking after it. */
	timeout: number;
	onResolved(host: string, address: string): void;
	/** `reason` says what went wrong, in words (see net/dns-failure). */
	onError(host: string, reason: string): void;
}

/** Moddable `timer` shape: an opaque handle, callbacks run once. */
export type TimerHandle = object;

export interface Clock {
	/** Milliseconds on a monotonic clock (uptime). */
	now(): number;
	/** Epoch milliseconds once wall time is known (SNTP), else undefined. */
	wallTime(): number | undefined;
}

export interface Timers {
	set(callback: () => void, delay: number): TimerHandle;
	/**
	 * Every `interval` ms until cleared, as Moddable's Timer.repeat: one timer
	 * for good, rather than one set (and allocated) per period.
	 */
	repeat(callback: () => void, interval: number): TimerHandle;
	clear(handle: TimerHandle | undefined): void;
}

export type LogLevel = "debug" | "info" | "warn" | "error";

/** One structured log line: a level, a component tag, a message and fields. */
export type LogSink = (level: LogLevel, tag: string, message: string, fields?: Record<string, unknown>) => void;

/** Wi-Fi events, named as Moddable's `wifi` module names them. */
export type WifiEvent = "connect" | "gotIP" | "lostIP" | "disconnect";

export interface WifiRadio {
	/** Start connecting; progress and drops arrive through `onEvent`. */
	connect(ssid: string, password: string, onEvent: (event: WifiEvent) => void): void;
	disconnect(): void;
	/**
	 * Optional: opens an open access point with this name next to the
	 * station (both at once, so joining goes on), for first-boot setup.
	 * Radios without AP mode leave it out.
	 */
	openAccessPoint?(ssid: string): void;
	/** Closes the access point; the station stays. */
	closeAccessPoint?(): void;
	/** Optional: the station's MAC address, "a4:d1:8c:db:c0:20", which names the access point. */
	mac?(): string | undefined;
}

/** ECMA-419 sensor `sample()`: degrees Celsius, and % relative humidity where the sensor has it; may throw on a bus fault. */
export interface TemperatureSensor {
	sample(): { temperature: number; humidity?: number };
}

export type SensorKind = "tmp102" | "sht3x" | "ds18b20" | "ntc" | "simulated" | "simulated-faulty";

/** Which sensor, and on which pins; hosts ignore what does not apply to them. */
export interface SensorOptions {
	kind: SensorKind;
	/** I2C data and clock pins, and the 7-bit address (TMP102, SHT3x). */
	sda: number;
	scl: number;
	address: number;
	/** 1-Wire data pin (DS18B20) or analog input pin (NTC). */
	pin: number;
}

/** ECMA-419 `embedded:io/digital` output, written 0 or 1 at the pin. */
export interface DigitalOutput {
	write(value: 0 | 1): void;
}

/**
 * A native UTF-8 decoder: TextDecoder("utf-8", { ignoreBOM: true }). It must
 * keep a leading U+FEFF (MQTT forbids skipping it) and replace malformed
 * bytes with U+FFFD rather than throw; the codec checks any topic holding
 * U+FFFD strictly. XS counts a byte loop in JS at about 25 units a byte, a
 * native decode at a handful, so hosts that have one should offer it.
 */
export interface Utf8Decoder {
	decode(bytes: Uint8Array): string;
}

/**
 * A native UTF-8 encoder: TextEncoder's `encode` (Moddable's "text/encoder",
 * XS's built-in, Node's). Used for payloads only, which MQTT puts no rules
 * on; topics and client ids keep MQTT's string rules and go through the
 * codec's checked encoder. A JS encoder costs XS about 88 units a
 * character; a native one is one call. A payload string should be
 * well-formed: for a lone surrogate, Node's gives U+FFFD and Moddable's
 * (XS's) its three-byte CESU-8 form.
 */
export interface Utf8Encoder {
	encode(text: string): Uint8Array;
}

/**
 * What the platform knows about itself, for the diagnostics message. Each
 * field is present only where the platform exposes it (Moddable's `Net`,
 * `instrumentation`, the ESP32's reset reason).
 */
export interface HostDiagnostics {
	/** Why the chip last started (ESP32: "Power-On", "Panic", "Task WDT", ...). */
	resetReason?: string;
	/** Wi-Fi signal, dBm. */
	rssi?: number;
	ip?: string;
	/** XS heap in use: slots and chunks, bytes. */
	slotsUsed?: number;
	chunksUsed?: number;
	/** The system's free heap, bytes. */
	freeHeap?: number;
}

/** What a running firmware offers its host: an orderly stop, and a snapshot for a UI. */
export interface FirmwareHandle {
	/** Publishes a clean `offline`, disconnects, and stops every timer. */
	shutdown(): void;
	status(): Record<string, unknown>;
	/** Drives the LED (the state topic follows), uncounted: restoring a state. */
	setLed?(on: boolean): void;
	/** An LED command from elsewhere than MQTT (the web page): counted as MQTT's are; returns whether it is lit. */
	ledCommand?(command: "on" | "off" | "toggle"): boolean;
	/** The recent readings kept for a chart, oldest first. */
	recentReadings?(): number[];
}

/** The callbacks of an accepted connection: an ECMA-419 TCP socket built `from` a listener. */
export type SocketCallbacks = Pick<SocketOptions, "onReadable" | "onWritable" | "onError">;

/** ECMA-419 `embedded:io/socket/listener`, reduced to what a server needs. */
export interface ListenOptions {
	/** 0 asks for any free port (simulators); `Listener.port` says which. */
	port: number;
	/** One call per accepted connection; `accept` must be called at once. */
	onConnection(accept: (callbacks: SocketCallbacks) => Socket): void;
	/**
	 * Optional: asked as each connection comes, before anything is made for
	 * it. False means the server will not keep it (it has counted and logged
	 * why): the host closes it at once, as it is. A burst then costs the
	 * server only what it keeps. A host still takes every connection from
	 * its listener as it comes, never leaving one pending there.
	 */
	admit?(): boolean;
}

export interface Listener {
	readonly port: number;
	close(): void;
}

/**
 * Settings kept across restarts (Moddable `preference` on a device): one
 * text, written whole, so a setting is never half-saved.
 */
export interface SettingsStorage {
	load(): string | undefined;
	save(text: string): void;
	clear(): void;
}

/**
 * A firmware image being written (Moddable `embedded:update`, ESP32): bytes
 * go in order into the next OTA partition; nothing switches until complete().
 */
export interface FirmwareImage {
	/** The next bytes, in order; throws when the flash write fails. */
	write(bytes: Uint8Array): void;
	/** Ends the image (the platform checks it) and makes it the one to boot; throws when it is not valid. */
	complete(): void;
	/** Gives the image up: the partition is not switched and the running firmware stays. */
	abort(): void;
}

/** Over-the-air updates, where the platform has them. */
export interface FirmwareUpdater {
	/** Bytes the partition the image goes to holds, where the platform tells. */
	readonly capacity: number | undefined;
	/** Begins an image of byteLength bytes; throws when it cannot (too large, no OTA partition). */
	open(byteLength: number): FirmwareImage;
	/** Restarts the device into the image complete() selected. */
	restart(): void;
}

/** An incremental SHA-256 (Moddable's crypt `Digest("SHA256")`). */
export interface Sha256 {
	write(bytes: Uint8Array): void;
	/** The 32-byte digest; the digest cannot be written after. */
	close(): Uint8Array;
}

export interface Host {
	readonly name: string;
	readonly clock: Clock;
	readonly timers: Timers;
	readonly log: LogSink;
	readonly wifi: WifiRadio;
	/**
	 * Optional: random numbers in [0, 1) for backoff jitter, where the
	 * engine's Math.random repeats from boot to boot (XS on Linux and xsnap
	 * never seed it; the ESP32's is the hardware RNG).
	 */
	readonly random?: () => number;
	/** Optional: what the platform can tell about itself (diagnostics). */
	diagnostics?(): HostDiagnostics;
	/** Optional: set the wall clock from this SNTP server; called on every Wi-Fi connect, a no-op once set. */
	syncClock?(server: string): void;
	/** Optional: the platform's native UTF-8 decoder, for the inbound hot path. */
	readonly utf8?: Utf8Decoder;
	/** Looks a name up (IPv4 A record), without blocking. */
	resolve(options: ResolveOptions): void;
	/** Optional: the platform's native UTF-8 encoder, for string payloads. */
	readonly utf8Encoder?: Utf8Encoder;
	/** Opens an ECMA-419-shaped TCP (or TLS) socket. */
	openSocket(options: SocketOptions): Socket;
	/** Creates the configured temperature sensor; throws if it cannot. */
	openSensor(options: SensorOptions): TemperatureSensor;
	/** Creates the LED output on the given pin. */
	openLed(pin: number): DigitalOutput;
	/** Optional: accepts TCP connections (the web page); hosts that cannot listen leave it out. */
	listen?(options: ListenOptions): Listener;
	/** Optional: flash for settings changed at run time. */
	readonly settings?: SettingsStorage;
	/** Optional: writes firmware images (OTA); hosts without `embedded:update` leave it out. */
	readonly updater?: FirmwareUpdater;
	/** Optional: a SHA-256 to check an image against the hash its sender gave. */
	sha256?(): Sha256;
	/**
	 * Optional: announce `<hostName>.local` by mDNS, with an `_http._tcp`
	 * service on `httpPort` when the page is served. Called on every Wi-Fi
	 * connect (the address may be new); hosts without mDNS leave it out.
	 */
	advertise?(hostName: string, httpPort: number | undefined): void;
	/** Hands the host the running firmware, so it can stop it or show its status. */
	attach?(firmware: FirmwareHandle): void;
	/** Called once the firmware has shut down in an orderly way. */
	exit?(): void;
}
