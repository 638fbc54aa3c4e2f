/*
 * Drives a BrokerAddress with a host: asks the host's resolver, arms one
 * timer for the look-up's deadline, and hands the client either an address
 * to open a socket to or the reason the attempt failed. Every answer comes
 * from a host callback, so nothing here throws.
 */
import type { Host, TimerHandle } from "platform";
import { BrokerAddress, type AddressStep } from "net/resolution";

export interface ConnectorEvents {
	/** Open the socket to `address` now. */
	connect(address: string): void;
	/** The attempt failed before a socket was opened. */
	fail(reason: string): void;
	/** A name was resolved (for the log). */
	resolved?(name: string, address: string): void;
}

export class Connector {
	readonly address: BrokerAddress;
	readonly #host: Pick<Host, "clock" | "timers" | "resolve">;
	#events: ConnectorEvents | undefined;
	#timer: TimerHandle | undefined;

	constructor(host: Pick<Host, "clock" | "timers" | "resolve">, address: BrokerAddress) {
		this.#host = host;
		this.address = address;
	}

	/** Starts an attempt; exactly one of `connect` and `fail` follows, unless cancelled first. */
	open(events: ConnectorEvents): void {
		this.#events = events;
		this.#follow(this.address.begin(this.#host.clock.now()));
	}

	/** The socket to the address failed before it was established. */
	connectionFailed(): void {
		this.address.connectionFailed();
	}

	cancel(): void {
		this.address.cancel();
		this.#disarm();
	}

	#follow(step: AddressStep | undefined): void {
		const events = this.#events;
		if (!step || !events) return;
		if (step.kind !== "resolve") {
			// The attempt's outcome: its callbacks (and what they hold) are not kept through the connection.
			this.#events = undefined;
		}
		if (step.kind === "connect") {
			this.#disarm();
			if (this.address.isName) events.resolved?.(this.address.name, step.address);
			events.connect(step.address);
		} else if (step.kind === "fail") {
			this.#disarm();
			events.fail(step.reason);
		} else {
			this.#resolve(step.name, step.lookup);
		}
	}

	#resolve(name: string, lookup: number): void {
		const host = this.#host;
		const address = this.address;
		this.#arm();
		try {
			host.resolve({
				host: name,
				servers: address.servers,
				timeout: address.timeout,
				onResolved: (_name, ip) => this.#follow(address.answer(lookup, ip)),
				onError: (_name, reason) => this.#follow(address.failure(lookup, reason)),
			});
		} catch (error) {
			this.#follow(address.failure(lookup, (error as Error).message));
		}
	}

	#arm(): void {
		const host = this.#host;
		this.#timer = host.timers.set(() => {
			this.#timer = undefined;
			const step = this.address.wake(host.clock.now());
			// A host timer may fire a little before its clock says the deadline has come.
			if (step) this.#follow(step);
			else if (this.address.deadline >= 0) this.#arm();
		}, Math.max(0, this.address.deadline - host.clock.now()));
	}

	#disarm(): void {
		if (this.#timer !== undefined) this.#host.timers.clear(this.#timer);
		this.#timer = undefined;
	}
}
