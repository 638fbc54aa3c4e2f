/*
 * A fault-injecting TCP proxy between the firmware and a real broker, on
 * loopback. Each switch is one fault a home network or a bad broker
 * produces; a test flips it and asserts how the firmware recovers.
 *
 * Traffic from the broker is cut into MQTT packets (fixed header and
 * remaining length) so that faults can aim at one packet: delay the
 * CONNACK, cut a PUBLISH in half, swallow PUBACKs.
 */
import net from "node:net";
import { resetSocket } from "../../hosts/simulated-board/connection-end.js";

export interface ProxyConnection {
	readonly device: net.Socket;
	readonly broker: net.Socket | undefined;
	readonly openedAt: number;
}

/** Splits a byte stream into whole MQTT packets; returns them and what is left. */
export function splitPackets(buffer: Buffer): { packets: Buffer[]; rest: Buffer } {
	const packets: Buffer[] = [];
	let offset = 0;
	for (;;) {
		let length = 0;
		let multiplier = 1;
		let index = offset + 1;
		let complete = false;
		while (index < buffer.length && index < offset + 5) {
			const byte = buffer[index++]!;
			length += (byte & 0x7f) * multiplier;
			multiplier *= 128;
			if (!(byte & 0x80)) {
				complete = true;
				break;
			}
		}
		// Garbage with a broken length still goes through, so the firmware sees it.
		if (!complete && index >= offset + 5) return { packets: [...packets, buffer.subarray(offset)], rest: Buffer.alloc(0) };
		if (!complete || index + length > buffer.length) return { packets, rest: buffer.subarray(offset) };
		packets.push(buffer.subarray(offset, index + length));
		offset = index + length;
		if (offset === buffer.length) return { packets, rest: Buffer.alloc(0) };
	}
}

export class FaultProxy {
	readonly port: number;
	/** performance.now() of every connection the firmware opened. */
	readonly accepted: number[] = [];
	/** SUBACKs the broker sent: a test publishes to the firmware only once it is subscribed. */
	subacks = 0;
	readonly connections = new Set<ProxyConnection>();

	/** Forward nothing either way, and keep both ends open: a half-open link. */
	blackhole = false;
	/** ms each chunk waits, both ways: a slow broker or a congested link. */
	delay = 0;
	/** Broker to device one byte per TCP segment. */
	bytewise = false;
	/** ms during which broker-to-device packets are gathered, then written as one chunk. */
	coalesce = 0;
	/** ms the first packet of each connection from the broker (its CONNACK) is held. */
	connackDelay = 0;
	/** Answer each CONNECT ourselves with this CONNACK return code, then close, as a refusing broker does. */
	refuseWith: number | undefined;
	/** Drop every PUBACK from the broker: a broker that never acknowledges. */
	swallowPubacks = false;
	/** Cut the next PUBLISH from the broker after half its bytes, then reset the connection. */
	cutNextPublish = false;
	/**
	 * The next packet of this type from the device is not forwarded: the
	 * connection is reset instead, as if it was lost on the way (e.g. 5,
	 * PUBREC: the broker never learns the device has the message).
	 */
	cutBeforeDevicePacket: number | undefined;
	/** Told of every packet from the broker, before any fault applies to it. */
	onBrokerPacket: ((packet: Buffer) => void) | undefined;

	readonly #server: net.Server;
	readonly #target: { host: string; port: number };

	private constructor(server: net.Server, target: { host: string; port: number }) {
		this.#server = server;
		this.#target = target;
		this.port = (server.address() as net.AddressInfo).port;
		server.on("connection", (device) => this.#accept(device));
	}

	static async start(targetPort: number): Promise<FaultProxy> {
		const server = net.createServer();
		await new Promise<void>((resolve, reject) => {
			server.once("error", reject);
			server.listen(0, "127.0.0.1", () => resolve());
		});
		return new FaultProxy(server, { host: "127.0.0.1", port: targetPort });
	}

	/** Bytes to the firmware on every open connection, as if the broker sent them. */
	inject(bytes: Uint8Array): void {
		for (const connection of this.connections) connection.device.write(bytes);
	}

	/** Every connection reset at once, both ends, nothing more sent. */
	resetAll(): void {
		for (const connection of [...this.connections]) this.#drop(connection);
	}

	async close(): Promise<void> {
		this.resetAll();
		await new Promise<void>((resolve) => this.#server.close(() => resolve()));
	}

	#accept(device: net.Socket): void {
		device.setNoDelay(true);
		this.accepted.push(performance.now());
		if (this.refuseWith !== undefined) {
			const code = this.refuseWith;
			const connection: ProxyConnection = { device, broker: undefined, openedAt: performance.now() };
			this.connections.add(connection);
			device.once("data", () => device.end(Buffer.from([0x20, 0x02, 0x00, code])));
			device.on("error", () => {});
			device.on("close", () => this.connections.delete(connection));
			return;
		}
		const broker = net.connect(this.#target);
		broker.setNoDelay(true);
		const connection: ProxyConnection = { device, broker, openedAt: performance.now() };
		this.connections.add(connection);
		let fromBroker = Buffer.alloc(0);
		let first = true;
		let gathered: Buffer[] = [];
		let gatherTimer: NodeJS.Timeout | undefined;
		const trickle: number[] = [];

		const toDevice = (packet: Buffer): void => {
			if (this.bytewise) {
				// One write per byte, each in its own turn of the event loop: separate
				// segments. Packets queue behind each other so their bytes never interleave.
				trickle.push(...packet);
				if (trickle.length === packet.length) {
					const next = (): void => {
						if (trickle.length === 0 || device.destroyed) return;
						device.write(Uint8Array.of(trickle.shift()!));
						setImmediate(next);
					};
					next();
				}
			} else if (this.coalesce > 0) {
				gathered.push(Buffer.from(packet));
				gatherTimer ??= setTimeout(() => {
					gatherTimer = undefined;
					const chunk = Buffer.concat(gathered);
					gathered = [];
					if (!device.destroyed) device.write(chunk);
				}, this.coalesce);
			} else {
				device.write(packet);
			}
		};
		const later = (wait: number, action: () => void): void => {
			if (wait > 0) setTimeout(action, wait);
			else action();
		};

		broker.on("data", (data: Buffer) => {
			if (this.blackhole) return;
			const { packets, rest } = splitPackets(Buffer.concat([fromBroker, data]));
			fromBroker = Buffer.from(rest);
			for (const packet of packets) {
				const type = packet[0]! >> 4;
				this.onBrokerPacket?.(packet);
				if (type === 9) this.subacks++;
				if (type === 4 && this.swallowPubacks) continue;
				if (type === 3 && this.cutNextPublish) {
					this.cutNextPublish = false;
					device.write(packet.subarray(0, packet.length >> 1), () => setTimeout(() => this.#drop(connection), 20));
					return;
				}
				const wait = this.delay + (first ? this.connackDelay : 0);
				first = false;
				later(wait, () => {
					if (!device.destroyed) toDevice(packet);
				});
			}
		});
		let fromDevice = Buffer.alloc(0);
		device.on("data", (data: Buffer) => {
			if (this.blackhole) return;
			if (this.cutBeforeDevicePacket !== undefined) {
				// Cut into packets, so that the one aimed at is never forwarded.
				const { packets, rest } = splitPackets(Buffer.concat([fromDevice, data]));
				fromDevice = Buffer.from(rest);
				const index = packets.findIndex((packet) => packet[0]! >> 4 === this.cutBeforeDevicePacket);
				if (index < 0) data = Buffer.concat(packets);
				else {
					this.cutBeforeDevicePacket = undefined;
					const before = Buffer.concat(packets.slice(0, index));
					if (before.length && !broker.destroyed) broker.write(before, () => this.#drop(connection));
					else this.#drop(connection);
					return;
				}
			}
			later(this.delay, () => {
				if (!broker.destroyed) broker.write(data);
			});
		});
		const end = (): void => {
			if (!this.connections.has(connection)) return;
			this.connections.delete(connection);
			clearTimeout(gatherTimer);
			device.destroy();
			broker.destroy();
		};
		device.on("error", end);
		broker.on("error", end);
		device.on("close", end);
		broker.on("close", end);
	}

	#drop(connection: ProxyConnection): void {
		this.connections.delete(connection);
		resetSocket(connection.device);
		if (connection.broker) resetSocket(connection.broker);
	}
}
