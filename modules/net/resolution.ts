/*
 * The broker's address, as a step before each connection attempt: sans-I/O,
 * fed the time and the resolver's answers, it says what to do next (connect
 * to an address, ask the resolver, or fail the attempt) and when it wants
 * to be woken (its deadline).
 *
 * - An IPv4 literal, or `localhost`, is its own address: no look-up.
 * - A resolved address is kept and reused until a connection to it fails
 *   (refused, unreachable, TLS handshake, timed out), then the name is
 *   resolved again: a broker whose DHCP lease moved is found on the next try.
 * - A look-up has `timeout` ms; a late answer to a look-up that was given up
 *   or cancelled is ignored (each look-up has its own number).
 */
import { isIPv4, literalAddress } from "net/ipv4";
import { describeDnsFailure } from "net/dns-failure";

export type AddressStep =
	| { kind: "connect"; address: string }
	| { kind: "resolve"; name: string; lookup: number }
	| { kind: "fail"; reason: string };

export interface ResolutionOptions {
	/** DNS servers to ask; empty: the network's own. */
	servers: readonly string[];
	/** ms a look-up may take. */
	timeout: number;
}

export class BrokerAddress {
	readonly name: string;
	readonly servers: readonly string[];
	readonly timeout: number;
	/** Whether the name needs DNS at all. */
	readonly isName: boolean;
	#address: string | undefined;
	#lookup = 0;
	#pending = false;
	#deadline = -1;
	/** Look-ups asked for, and answered with an address. */
	lookups = 0;
	resolved = 0;

	constructor(name: string, options: ResolutionOptions) {
		if (!(options.timeout > 0)) throw new RangeError(`timeout must be > 0 ms, got ${options.timeout}`);
		this.name = name;
		this.servers = options.servers.slice();
		this.timeout = options.timeout;
		this.#address = literalAddress(name);
		this.isName = this.#address === undefined;
	}

	/** The address the next connection will use, if known. */
	get address(): string | undefined {
		return this.#address;
	}

	/** When a look-up in progress gives up; -1: none. */
	get deadline(): number {
		return this.#deadline;
	}

	/** The start of a connection attempt. */
	begin(now: number): AddressStep {
		this.cancel();
		if (this.#address !== undefined) return { kind: "connect", address: this.#address };
		this.#pending = true;
		this.#deadline = now + this.timeout;
		this.lookups++;
		return { kind: "resolve", name: this.name, lookup: ++this.#lookup };
	}

	/** The resolver's answer to look-up `lookup`; undefined if it is no longer awaited. */
	answer(lookup: number, address: string): AddressStep | undefined {
		if (!this.#awaiting(lookup)) return undefined;
		this.#settle();
		if (!isIPv4(address)) return { kind: "fail", reason: `cannot resolve ${this.name}: the answer ${JSON.stringify(address)} is not an IPv4 address` };
		this.#address = address;
		this.resolved++;
		return { kind: "connect", address };
	}

	/** The resolver's failure for look-up `lookup`, in words; undefined if it is no longer awaited. */
	failure(lookup: number, reason: string): AddressStep | undefined {
		if (!this.#awaiting(lookup)) return undefined;
		this.#settle();
		return { kind: "fail", reason: `cannot resolve ${this.name}: ${reason}` };
	}

	/** The deadline may have come: the look-up in progress fails. */
	wake(now: number): AddressStep | undefined {
		if (!this.#pending || now < this.#deadline) return undefined;
		this.#settle();
		return { kind: "fail", reason: `cannot resolve ${this.name}: ${describeDnsFailure("timeout", this.servers, this.timeout)}` };
	}

	/** A connection to the address failed before it was established: resolve again next time. */
	connectionFailed(): void {
		if (this.isName) this.#address = undefined;
	}

	/** The attempt is abandoned (stopped, timed out above us): forget any look-up in progress. */
	cancel(): void {
		if (this.#pending) this.#lookup++;
		this.#settle();
	}

	#awaiting(lookup: number): boolean {
		return this.#pending && lookup === this.#lookup;
	}

	#settle(): void {
		this.#pending = false;
		this.#deadline = -1;
	}
}
