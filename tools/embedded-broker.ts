/*
 * The broker `npm start` embeds (aedes), on loopback only, so the quick
 * start needs nothing installed beyond npm packages.
 *
 * Port 1883 is where the README's `npm run led` and `mosquitto_sub` look.
 * If something already listens there: an MQTT broker (mosquitto, another
 * `npm start`) is used as it is, and `npm start` says so; anything else
 * stops `npm start` with a message that names `--broker`. The broker never
 * moves to another port quietly.
 */
import net from "node:net";
import { Aedes } from "aedes";

export interface EmbeddedBroker {
	port: number;
	close(): Promise<void>;
}

async function listen(server: net.Server, port: number): Promise<number> {
	return new Promise((resolve, reject) => {
		server.once("error", reject);
		server.listen(port, "127.0.0.1", () => {
			server.off("error", reject);
			resolve((server.address() as net.AddressInfo).port);
		});
	});
}

/** An embedded broker on 127.0.0.1:`port` (0: any free port); rejects with EADDRINUSE if the port is taken. */
export async function startEmbeddedBroker(port: number): Promise<EmbeddedBroker> {
	const aedes = await Aedes.createBroker();
	// No Nagle: a PUBACK and the LED state right behind it would otherwise wait for a delayed ACK (40 ms).
	const server = net.createServer({ noDelay: true }, aedes.handle);
	let bound: number;
	try {
		bound = await listen(server, port);
	} catch (error) {
		await new Promise<void>((resolve) => aedes.close(() => resolve()));
		throw error;
	}
	return {
		port: bound,
		close: () => new Promise<void>((resolve) => {
			server.close();
			aedes.close(() => resolve());
		}),
	};
}

/** A bare MQTT 3.1.1 CONNECT, clean session, keepalive 0, client id "room1-probe". */
const probeConnect = Uint8Array.of(0x10, 23, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0, 0, 0, 11, ...Array.from("room1-probe", (c) => c.charCodeAt(0)));

/** True if an MQTT broker answers a CONNECT with a CONNACK at 127.0.0.1:`port` within `timeout` ms. */
export function probeMqttBroker(port: number, timeout = 1000): Promise<boolean> {
	return new Promise((resolve) => {
		const socket = net.connect({ host: "127.0.0.1", port });
		const done = (answer: boolean): void => {
			clearTimeout(timer);
			socket.destroy();
			resolve(answer);
		};
		const timer = setTimeout(() => done(false), timeout);
		socket.on("connect", () => socket.write(probeConnect));
		socket.on("data", (data: Buffer) => done(data[0] === 0x20));
		socket.on("error", () => done(false));
		socket.on("close", () => done(false));
	});
}

export type BrokerChoice =
	| { kind: "embedded"; port: number; broker: EmbeddedBroker }
	| { kind: "existing"; port: number };

/** An embedded broker on `port`, or the MQTT broker already there; throws a clear error if something else holds it. */
export async function chooseBroker(port: number): Promise<BrokerChoice> {
	try {
		return { kind: "embedded", port, broker: await startEmbeddedBroker(port) };
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE") throw error;
	}
	if (await probeMqttBroker(port)) return { kind: "existing", port };
	throw new Error(`port ${port} on 127.0.0.1 is taken by something that does not answer as an MQTT broker; stop it, or name a broker with --broker mqtt://HOST:PORT`);
}
