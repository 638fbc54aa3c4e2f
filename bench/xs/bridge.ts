/*
 * Baseline XS costs, so the firmware's own figures can be read against
 * them: the metered cost of an empty operation and of a tiny one.
 */
export const benches = {
	"empty operation": () => () => {},
	"allocate one 16-byte Uint8Array": () => () => {
		new Uint8Array(16);
	},
};
