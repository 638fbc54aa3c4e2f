/*
 * Portable test suites: modules under test/portable/ export `suite`, a set of
 * synchronous cases. test/portable.test.ts runs every case twice, on Node and
 * inside the real XS engine, so a scenario is written once for both hosts.
 * Cases that need time use a virtual clock (VirtualClock in
 * test/lib/fake-host), or feed times directly, never the host's.
 */
export interface PortableSuite {
	readonly name: string;
	readonly cases: Readonly<Record<string, () => void>>;
}

export function defineSuite(name: string, cases: Record<string, () => void>): PortableSuite {
	return { name, cases };
}
