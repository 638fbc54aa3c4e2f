/*
 * Name look-ups on both Moddable SDK hosts (the ESP32 and the desktop
 * simulator), through Moddable's ECMA-419 DNS resolver
 * (`embedded:network/dns/resolver/udp`) over `embedded:io/socket/udp`.
 *
 * That resolver asks each server every second, five times per server, and
 * then calls `onError` with no reason, and it parses replies inside the UDP
 * socket's callback, where a malformed one would throw and abort XS. So it
 * gets a UDP class of ours that watches each reply (its RCODE) and turns a
 * parse failure into a reason, at once, instead of a reset. A `.local` name goes,
 * by the same resolver, as a one-shot multicast DNS query to
 * 224.0.0.251:5353 (RFC 6762 section 5.1), whatever the servers.
 */
import Resolver from "embedded:network/dns/resolver/udp";
import UDP from "embedded:io/socket/udp";
import Net from "net";
import Time from "time";
import Timer from "timer";
import type { ResolveOptions } from "platform";
import { describeDnsFailure, type DnsFailure } from "net/dns-failure";
import { guard } from "host/socket";

/** What the resolver's socket saw: the replies Moddable's resolver does not describe. */
interface Seen {
	failure?: DnsFailure;
	detail?: string;
	/** A reply that cannot be read ends the look-up at once, as it does on Node. */
	malformed(detail: string): void;
}

type UdpOptions = ConstructorParameters<typeof UDP>[0];

function watchedUdp(seen: Seen): typeof UDP {
	return class WatchedUDP extends UDP {
		constructor(options: UdpOptions) {
			const onReadable = options.onReadable;
			super({
				...options,
				onReadable: onReadable && function (this: UDP, count: number): void {
					try {
						onReadable.call(this, count);
					} catch (error) {
						seen.malformed((error as Error)?.message || "unparsable");
					}
				},
			} as UdpOptions);
		}

		override read(): ArrayBuffer & { address: string; port: number } {
			const packet = (super.read as () => ArrayBuffer & { address: string; port: number })();
			const bytes = new Uint8Array(packet);
			if (bytes.length < 12) seen.malformed(`${bytes.length} bytes, shorter than a DNS header`);
			else {
				const code = bytes[3]! & 0x0f;
				seen.failure = code === 0 ? "nodata" : code === 3 ? "nxdomain" : "servfail";
				seen.detail = code === 0 || code === 3 ? undefined : `RCODE ${code}`;
			}
			return packet;
		}
	} as unknown as typeof UDP;
}

/** Asks `servers` (port 53) through Moddable's ECMA-419 resolver. */
export function resolveByDns(options: ResolveOptions, servers: readonly string[]): void {
	const { host, timeout } = options;
	const local = host.toLowerCase().endsWith(".local");
	if (!servers.length && !local) {
		Timer.set(guard("timer callback", () => options.onError(host, describeDnsFailure("no-servers", servers, timeout))));
		return;
	}
	const asked = local ? ["224.0.0.251 (multicast DNS)"] : servers;
	const started = Time.ticks;
	let settled = false;
	const settle = (action: () => void): void => {
		if (settled) return;
		settled = true;
		action();
	};
	const seen: Seen = {
		malformed: (detail) => settle(() => {
			// Not from inside its socket's callback: the resolver stops asking on the next turn.
			Timer.set(guard("timer callback", () => resolver.close()));
			options.onError(host, describeDnsFailure("malformed", asked, timeout, detail));
		}),
	};
	const resolver = new Resolver({ servers: servers.slice(), socket: { io: watchedUdp(seen) } });
	resolver.resolve({
		host,
		onResolved: guard("resolver onResolved", (_name: string, address: unknown) => settle(() => options.onResolved(host, String(address)))) as () => null,
		// No reason from the resolver: a reply we saw gives one, else it gave up waiting.
		onError: guard("resolver onError", () => settle(() => options.onError(host, describeDnsFailure(seen.failure ?? "timeout", asked, Time.ticks - started, seen.detail)))) as () => null,
	});
}

/**
 * The computer's own resolver (GLib's, asynchronous) on the desktop
 * simulator, which cannot learn the computer's DNS servers: Moddable's
 * `Net.get("DNS")` answers only on devices.
 */
export function resolveBySystem(options: ResolveOptions): void {
	Net.resolve(options.host, guard("Net.resolve callback", (_name: string, address?: string) => {
		if (address) options.onResolved(options.host, address);
		else options.onError(options.host, "the computer's resolver found no IPv4 address for it");
	}));
}

/** The servers the network gave (DHCP on a device); empty where Moddable does not know them. */
export function networkServers(): string[] {
	return (Net.get("DNS") as string[] | undefined) ?? [];
}
