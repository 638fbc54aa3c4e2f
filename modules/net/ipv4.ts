/*
 * IPv4 literals, the only addresses an ECMA-419 socket takes: anything else
 * is a name, and must be resolved first.
 */

/** "192.168.1.10": four decimal parts 0-255, no leading zeros (octal to some resolvers). */
export function isIPv4(text: string): boolean {
	const parts = text.split(".");
	if (parts.length !== 4) return false;
	for (const part of parts) {
		if (!/^(0|[1-9]\d{0,2})$/.test(part) || Number(part) > 255) return false;
	}
	return true;
}

/** The address a name stands for without asking DNS: a literal itself, `localhost` 127.0.0.1. */
export function literalAddress(name: string): string | undefined {
	if (isIPv4(name)) return name;
	return name.toLowerCase() === "localhost" ? "127.0.0.1" : undefined;
}
