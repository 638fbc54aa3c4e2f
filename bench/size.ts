/*
 * ESP32 bytecode per module, from the SDK's own host steps (mcconfig -p esp32,
 * tsc, xsc, xsl; everything but ESP-IDF's C build), and the MQTT stack's
 * total against its ceiling. `npm run size` prints it; `npm run bench` records
 * it. Needs the Moddable SDK and the host-steps script
 * ($ESP32_HOST_STEPS, else /work/shared/moddable-sdk/esp32-host-steps.sh);
 * without them it says what it skipped.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { projectRoot } from "../test/support/xs.js";
import { moddableSdk } from "./engine.js";

/** The MQTT stack as the issue counts it: mqtt/* and backoff. */
export const mqttStackCeiling = 24000;

export interface SizeReport {
	modules: { module: string; bytes: number }[];
	mqttStack: number;
	total: number;
}

export function isMqttStack(module: string): boolean {
	return module.startsWith("mqtt/") || module === "backoff";
}

export function esp32Sizes(): SizeReport | { skipped: string } {
	const sdk = moddableSdk();
	const script = process.env.ESP32_HOST_STEPS ?? "/work/shared/moddable-sdk/esp32-host-steps.sh";
	if (!sdk) return { skipped: "no Moddable SDK: ESP32 bytecode not measured" };
	if (!fs.existsSync(script)) return { skipped: `no host-steps script at ${script} (set ESP32_HOST_STEPS): ESP32 bytecode not measured` };
	let output: string;
	try {
		output = execFileSync("bash", [script, projectRoot], { env: { ...process.env, MODDABLE: sdk }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 });
	} catch (error) {
		const stderr = String((error as { stderr?: string }).stderr ?? "").split("\n").filter((line) => line && !line.includes("warning")).slice(-6).join("\n");
		return { skipped: `the ESP32 host steps failed:\n${stderr}` };
	}
	const modules = [...output.matchAll(/^\s*(\d+)\s+(\S+)\.xsb$/gm)].map((match) => ({ module: match[2]!, bytes: Number(match[1]) }));
	return {
		modules,
		mqttStack: modules.filter((entry) => isMqttStack(entry.module)).reduce((sum, entry) => sum + entry.bytes, 0),
		total: modules.reduce((sum, entry) => sum + entry.bytes, 0),
	};
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
	const report = esp32Sizes();
	if ("skipped" in report) {
		console.log(`skipped: ${report.skipped}`);
	} else {
		for (const { module, bytes } of report.modules) console.log(`${String(bytes).padStart(8)}  ${module}${isMqttStack(module) ? "  (MQTT stack)" : ""}`);
		console.log(`MQTT stack (mqtt/* and backoff): ${report.mqttStack} bytes, ceiling ${mqttStackCeiling}: ${report.mqttStack <= mqttStackCeiling ? "ok" : "MISSED"}`);
		console.log(`project bytecode: ${report.total} bytes`);
		process.exitCode = report.mqttStack <= mqttStackCeiling ? 0 : 1;
	}
}
