/*
 * A real mosquitto on a loopback port of its own, for end-to-end tests.
 * Restartable on the same port, to test broker restarts.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export const mosquittoBinary = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"].find((file) => fs.existsSync(file)) ?? "mosquitto";

export interface MosquittoOptions {
	/** Extra lines for mosquitto.conf. */
	config?: string[];
	/** Full listener lines instead of the default plain loopback listener. */
	listener?: string[];
	/** Keep sessions and queued messages across a restart (saved on a clean stop). */
	persistent?: boolean;
	/** A TLS listener on the broker's port, instead of plain TCP. */
	tlsListener?: { cafile: string; certfile: string; keyfile: string };
}

export async function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = net.createServer();
		server.once("error", reject);
		server.listen(0, "127.0.0.1", () => {
			const { port } = server.address() as net.AddressInfo;
			server.close(() => resolve(port));
		});
	});
}

export class Mosquitto {
	readonly port: number;
	readonly dir: string;
	readonly #options: MosquittoOptions;
	#process: ChildProcess | undefined;
	output = "";

	private constructor(port: number, options: MosquittoOptions) {
		this.port = port;
		this.#options = options;
		this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "mosquitto-"));
		// Started as root, mosquitto drops to its own user, which must be able to write its store here.
		if (options.persistent) fs.chmodSync(this.dir, 0o777);
	}

	static async start(options: MosquittoOptions = {}): Promise<Mosquitto> {
		const broker = new Mosquitto(await freePort(), options);
		await broker.restart();
		return broker;
	}

	get running(): boolean {
		return this.#process !== undefined;
	}

	/** (Re)starts on the same port. */
	async restart(): Promise<void> {
		await this.stop();
		const file = path.join(this.dir, "mosquitto.conf");
		fs.writeFileSync(file, [
			...(this.#options.tlsListener
				? [`listener ${this.port} 127.0.0.1`, `cafile ${this.#options.tlsListener.cafile}`, `certfile ${this.#options.tlsListener.certfile}`, `keyfile ${this.#options.tlsListener.keyfile}`]
				: this.#options.listener ?? [`listener ${this.port} 127.0.0.1`]),
			"allow_anonymous true",
			...(this.#options.persistent ? ["persistence true", `persistence_location ${this.dir}/`, "autosave_interval 0"] : ["persistence false"]),
			"max_inflight_messages 0",
			"max_queued_messages 10000",
			"log_dest stderr",
			"log_type error",
			"log_type warning",
			...(this.#options.config ?? []),
		].join("\n") + "\n");
		const child = spawn(mosquittoBinary, ["-c", file], { stdio: ["ignore", "pipe", "pipe"] });
		child.stdout!.on("data", (data: Buffer) => (this.output += data.toString()));
		child.stderr!.on("data", (data: Buffer) => (this.output += data.toString()));
		this.#process = child;
		child.once("exit", () => {
			if (this.#process === child) this.#process = undefined;
		});
		const deadline = Date.now() + 5000;
		for (;;) {
			if (!this.#process) throw new Error(`mosquitto exited: ${this.output}`);
			if (await canConnect(this.port)) return;
			if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${this.port}: ${this.output}`);
			await new Promise((resolve) => setTimeout(resolve, 20));
		}
	}

	async stop(): Promise<void> {
		const child = this.#process;
		if (!child) return;
		this.#process = undefined;
		const exited = new Promise((resolve) => child.once("exit", resolve));
		child.kill("SIGTERM");
		await exited;
	}
}

function canConnect(port: number): Promise<boolean> {
	return new Promise((resolve) => {
		const socket = net.connect({ host: "127.0.0.1", port }, () => {
			socket.destroy();
			resolve(true);
		});
		socket.on("error", () => resolve(false));
	});
}
