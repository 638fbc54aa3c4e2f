/*
 * Hands configuration and a host to the device's composition root
 * (firmware/device: firmware, stored settings, web page); nothing else.
 * Moddable runs this module's default export at start-up. Like every
 * module of the firmware it is preloaded: its body runs at build time, so
 * the host and everything with state are made here, at run time.
 */
import config from "mc/config";
import { createHost } from "host";
import { ConfigError } from "config";
import { startDevice } from "firmware/device";

export default function main(): void {
	const host = createHost();
	try {
		startDevice(host, config);
	} catch (error) {
		const problems = error instanceof ConfigError ? error.problems : [(error as Error).message];
		for (const problem of problems) host.log("error", "config", problem);
		host.log("error", "firmware", `not started on ${host.name}: fix the configuration above`);
	}
}
