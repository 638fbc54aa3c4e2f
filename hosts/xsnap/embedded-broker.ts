/*
 * The broker `npm start` embeds (aedes), on loopback only, so the quick
 * start needs nothing installed beyond npm packages.
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

/** `preferredPort` if it is free (1883, so mosquitto_pub works as is), else any free port. */
export async function startEmbeddedBroker(preferredPort: number): Promise<EmbeddedBroker> {
	const aedes = await Aedes.createBroker();
	// No Nagle: a PUBACK and the LED state right behind it would otherwise wait for a delayed ACK (40 ms).
	const server = net.createServer({ noDelay: true }, aedes.handle);
	let port: number;
	try {
		port = await listen(server, preferredPort);
	} catch {
		port = await listen(server, 0);
	}
	return {
		port,
		close: () => new Promise<void>((resolve) => {
			server.close();
			aedes.close(() => resolve());
		}),
	};
}
