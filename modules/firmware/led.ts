/*
 * The LED actuator. Commands arrive on the command topic; the LED state
 * (`on`/`off`) is published retained on the state topic after every change
 * and after every connect, so a dashboard always shows the truth.
 *
 * Command grammar (case-insensitive, surrounding white space ignored):
 *   on | off | toggle | 1 | 0 | true | false
 *   {"state": <any of the above, or a JSON true/false/1/0>}
 * Anything else leaves the LED as it is and is reported with a safe quote
 * of what arrived.
 */
import type { DigitalOutput } from "platform";

/** Longer payloads are refused unread: no command needs more. */
export const maxCommandBytes = 64;

export type LedCommand = "on" | "off" | "toggle";

type Parsed = { readonly command: LedCommand };
const on: Parsed = Object.freeze({ command: "on" }), off: Parsed = Object.freeze({ command: "off" }), toggle: Parsed = Object.freeze({ command: "toggle" });
// No prototype: "constructor" or "__proto__" must not look like a command. The results are made
// once, so that a command allocates nothing.
const words: Record<string, Parsed | undefined> = Object.assign(Object.create(null) as Record<string, Parsed>,
	{ on, off, toggle, "1": on, "0": off, true: on, false: off });

/** Parses a command payload: the command, or why it is not one. */
export function parseLedCommand(payload: Uint8Array): { command: LedCommand } | { error: string } {
	// What dashboards send (Home Assistant: ON and OFF), matched byte by byte in any case; `| 0x20`
	// makes only O and o into o, N and n into n, F and f into f. No string is built for them.
	const length = payload.length;
	if (length === 2 && (payload[0]! | 0x20) === 0x6f && (payload[1]! | 0x20) === 0x6e) return on;
	if (length === 3 && (payload[0]! | 0x20) === 0x6f && (payload[1]! | 0x20) === 0x66 && (payload[2]! | 0x20) === 0x66) return off;
	// TOGGLE, Home Assistant's and Tasmota's third command, the same way.
	if (length === 6 && (payload[0]! | 0x20) === 0x74 && (payload[1]! | 0x20) === 0x6f && (payload[2]! | 0x20) === 0x67 &&
		(payload[3]! | 0x20) === 0x67 && (payload[4]! | 0x20) === 0x6c && (payload[5]! | 0x20) === 0x65) return toggle;
	if (payload.length > maxCommandBytes) return { error: `command of ${payload.length} bytes is longer than ${maxCommandBytes}` };
	let start = 0, end = payload.length;
	while (start < end && isSpace(payload[start]!)) start++;
	while (end > start && isSpace(payload[end - 1]!)) end--;
	if (start === end) return { error: "empty command" };
	let text = "";
	for (let i = start; i < end; i++) {
		const byte = payload[i]!;
		// Every accepted form is printable ASCII; anything else is refused before any parsing.
		if (byte < 0x20 || byte > 0x7e) return { error: "command is not printable ASCII" };
		text += String.fromCharCode(byte >= 0x41 && byte <= 0x5a ? byte + 32 : byte);
	}
	const word = words[text];
	if (word) return word;
	if (text.charCodeAt(0) === 0x7b /* { */) {
		let parsed: unknown;
		try {
			parsed = JSON.parse(text);
		} catch {
			return { error: "invalid JSON" };
		}
		const state = (parsed as { state?: unknown } | null)?.state;
		const command = typeof state === "string" ? words[state.trim()] : typeof state === "boolean" ? (state ? on : off) : state === 1 ? on : state === 0 ? off : undefined;
		if (command) return command;
		return { error: 'JSON command needs "state": on, off, toggle, true, false, 1 or 0' };
	}
	return { error: "unknown command (expected on, off, toggle, 1, 0, true, false or {\"state\":...})" };
}

/** A quote of untrusted bytes that is safe to log: printable ASCII, escaped, at most 32 bytes. */
export function safeQuote(payload: Uint8Array, limit = 32): string {
	let text = "";
	const end = Math.min(payload.length, limit);
	for (let i = 0; i < end; i++) {
		const byte = payload[i]!;
		if (byte >= 0x20 && byte <= 0x7e && byte !== 0x22 && byte !== 0x5c) text += String.fromCharCode(byte);
		else text += "\\x" + (byte < 16 ? "0" : "") + byte.toString(16);
	}
	return `"${text}"${payload.length > limit ? `... (${payload.length} bytes)` : ""}`;
}

function isSpace(byte: number): boolean {
	return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;
}

export interface LedOptions {
	output: DigitalOutput;
	activeLow: boolean;
	publishState(state: "on" | "off"): void;
	onRejected(reason: string, quote: string): void;
	onChange?(on: boolean): void;
}

export class LedActuator {
	commands = 0;
	rejected = 0;
	#on = false;
	readonly #options: LedOptions;

	constructor(options: LedOptions) {
		this.#options = options;
		this.#drive();
	}

	get on(): boolean {
		return this.#on;
	}

	/** Handles one command payload from the broker. */
	command(payload: Uint8Array): void {
		const result = parseLedCommand(payload);
		if ("error" in result) {
			this.rejected++;
			this.#options.onRejected(result.error, safeQuote(payload));
			return;
		}
		this.apply(result.command);
	}

	/** A command from anywhere (MQTT, the web page): counted, then obeyed. */
	apply(command: LedCommand): void {
		this.commands++;
		this.set(command === "toggle" ? !this.#on : command === "on");
	}

	/**
	 * A command the client refused unread (over the maximum packet size): it
	 * is counted and reported as every refused command is, and changes nothing.
	 */
	refuseUnread(reason: string): void {
		this.rejected++;
		this.#options.onRejected(reason, "(not read)");
	}

	set(on: boolean): void {
		const changed = on !== this.#on;
		this.#on = on;
		this.#drive();
		if (changed) this.#options.onChange?.(on);
		this.publishState();
	}

	publishState(): void {
		this.#options.publishState(this.#on ? "on" : "off");
	}

	#drive(): void {
		this.#options.output.write(this.#on !== this.#options.activeLow ? 1 : 0);
	}
}
