/*
 * ESP32 bytecode for `npm run bench`: runs `npm run size`'s script
 * (scripts/size.mjs: the SDK's host steps for the firmware and for
 * Moddable's mqttclient) and reads what it wrote, so the bench records the
 * same figures and judges the MQTT stack against its ceiling. Without an SDK
 * it says what it skipped.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { projectRoot } from "../tools/rigs/xs.js";
import { moddableSdk } from "./engine.js";

/** The MQTT stack, as its size ceiling counts it: mqtt/*, utf8 and backoff. */
export const mqttStackCeiling = 24000;

export interface SizeReport {
	modules: { module: string; bytes: number }[];
	mqttStack: number;
	total: number;
	moddableMqttClient: number;
}

export function isMqttStack(module: string): boolean {
	return module.startsWith("mqtt/") || module === "utf8" || module === "backoff";
}

export function esp32Sizes(): SizeReport | { skipped: string } {
	const sdk = moddableSdk();
	if (!sdk) return { skipped: "no Moddable SDK: ESP32 bytecode not measured" };
	try {
		execFileSync(process.execPath, [path.join(projectRoot, "scripts", "size.mjs")], { env: { ...process.env, MODDABLE: sdk }, stdio: ["ignore", "ignore", "pipe"], maxBuffer: 64 << 20 });
	} catch (error) {
		const stderr = String((error as { stderr?: Buffer }).stderr ?? "").split("\n").filter((line) => line && !line.includes("warning")).slice(-6).join("\n");
		return { skipped: `npm run size failed:\n${stderr}` };
	}
	const result = JSON.parse(fs.readFileSync(path.join(projectRoot, "bench", "results", "size.json"), "utf8")) as {
		firmware: Record<string, number>; mqttStack: number; firmwareTotal: number; moddableMqttClient: Record<string, number>;
	};
	return {
		modules: Object.entries(result.firmware).map(([module, bytes]) => ({ module, bytes })),
		mqttStack: result.mqttStack,
		total: result.firmwareTotal,
		// The example's client module alone, not its main and config.
		moddableMqttClient: Object.entries(result.moddableMqttClient).find(([module]) => module.endsWith("mqtt/client"))?.[1] ?? 0,
	};
}
