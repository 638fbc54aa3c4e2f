// npm run size: each module's ESP32 bytecode, as the real Moddable SDK
// compiles it (../shared/moddable-sdk/esp32-host-steps.sh: mcconfig -p esp32,
// tsc, xsc, xsl), beside Moddable's own ECMA-419 MQTT client compiled the
// same way. Needs an SDK: $MODDABLE, or the cache setup.sh builds.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const hostSteps = path.resolve(root, "../shared/moddable-sdk/esp32-host-steps.sh");
const moddable = process.env.MODDABLE ?? path.join(os.homedir(), ".cache/moddable-sdk-8.2.3/moddable");

if (!fs.existsSync(path.join(moddable, "build/bin/lin/release/mcconfig")) || !fs.existsSync(hostSteps)) {
	console.error(`npm run size needs the Moddable SDK built at ${moddable} (../shared/moddable-sdk/setup.sh, or set MODDABLE) and ${hostSteps}`);
	process.exit(2);
}

/** Module name → ESP32 bytecode bytes, from the host steps' listing. */
function bytecode(project, args = []) {
	const env = { ...process.env, MODDABLE: moddable, PATH: `${path.join(root, "node_modules/.bin")}:${process.env.PATH}` };
	const output = execFileSync("bash", [hostSteps, project, ...args], { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
	const sizes = new Map();
	for (const match of output.matchAll(/^\s*(\d+)\s+(\S+)\.xsb$/gm)) sizes.set(match[2], Number(match[1]));
	return sizes;
}

const ours = bytecode(root);
const theirs = bytecode(path.join(moddable, "examples/io/tcp/mqttclient"));
const sum = (sizes, keep = () => true) => [...sizes].filter(([name]) => keep(name)).reduce((total, [, size]) => total + size, 0);
const isMqttStack = (name) => name.startsWith("mqtt/") || name === "utf8" || name === "backoff";

const width = Math.max(...[...ours.keys(), ...theirs.keys()].map((name) => name.length));
const row = (name, size) => console.log(`${name.padEnd(width)}  ${String(size).padStart(7)}`);
console.log(`ESP32 bytecode (xsb bytes), Moddable SDK at ${moddable}\n\nthis firmware:`);
for (const [name, size] of ours) row(name, size);
row("MQTT stack (mqtt/*, utf8, backoff)", sum(ours, isMqttStack));
row("all of the firmware's modules", sum(ours));
console.log("\nModdable's examples/io/tcp/mqttclient:");
for (const [name, size] of theirs) row(name, size);
const result = {
	sdk: moddable,
	firmware: Object.fromEntries(ours),
	mqttStack: sum(ours, isMqttStack),
	firmwareTotal: sum(ours),
	moddableMqttClient: Object.fromEntries(theirs),
};
fs.mkdirSync(path.join(root, "bench/results"), { recursive: true });
fs.writeFileSync(path.join(root, "bench/results/size.json"), JSON.stringify(result, null, "\t") + "\n");
