/*
 * manifest.json is a real Moddable app manifest, and its config block is
 * exactly the firmware's defaults: one key for every setting, each default
 * valid, nothing stale.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { configKeys, parseConfig } from "config";
import { projectRoot } from "../tools/rigs/xs.js";

interface Heap {
	initial: number;
	incremental: number;
}

interface Manifest {
	include: string[];
	creation: { static?: number; chunk?: Heap; heap?: Heap; stack?: number };
	modules: Record<string, string | string[]>;
	config: Record<string, string>;
	platforms: Record<string, { modules?: Record<string, string>; include?: string[]; error?: string; config?: Record<string, string> }>;
}

const manifest = JSON.parse(fs.readFileSync(path.join(projectRoot, "manifest.json"), "utf8")) as Manifest;

describe("manifest.json", function () {
	it("holds every configuration key with the firmware's default, and no other", function () {
		assert.deepEqual(manifest.config, Object.fromEntries(configKeys.map((key) => [key.key, key.default])));
	});

	it("has defaults that parse, once a Wi-Fi network is named", function () {
		const config = parseConfig({ ...manifest.config, ssid: "home" });
		assert.equal(config.topics.temperature, "sensors/room1/temp");
		assert.equal(config.topics.ledCommand, "control/room1/led");
		assert.equal(config.led.pin, 2);
		assert.equal(config.sensor.qos, 1);
	});

	it("serves the desktop simulators' page on 8080, a port a normal user can bind; the ESP32 keeps 80", function () {
		assert.equal(manifest.config.http_port, "80");
		assert.equal(manifest.platforms.esp32!.config, undefined);
		for (const platform of ["lin", "mac", "win"]) assert.deepEqual(manifest.platforms[platform]!.config, { http_port: "8080" });
	});

	it("gives each platform its host, and refuses the rest with an error", function () {
		assert.equal(manifest.platforms.esp32!.modules!.host, "./hosts/esp32/host");
		for (const platform of ["lin", "mac", "win"]) assert.equal(manifest.platforms[platform]!.modules!.host, "./hosts/mcsim/host");
		assert.match(manifest.platforms["..."]!.error!, /supports esp32 and the desktop simulators/);
		// Our Wi-Fi manager owns the radio on the device: setup/network is ours.
		assert.equal(manifest.platforms.esp32!.modules!["setup/network"], "./hosts/esp32/setup-network");
		assert.equal(manifest.platforms.esp32!.modules!["embedded:io/socket/tcp"], "$(MODDABLE)/modules/io/socket/lwip/tcp");
	});

	it("runs XS in a fixed arena of at most 80 KB on an ESP32, the same one on every platform (mcsim included)", function () {
		const { creation } = manifest;
		assert.equal(creation.static, 0, "no growing from the system heap");
		assert.equal(creation.chunk?.incremental, 0, "chunks fixed");
		assert.equal(creation.heap?.incremental, 0, "slots fixed");
		// On the ESP32 a slot is 16 bytes, and so is a stack slot; chunks are counted in bytes.
		const esp32 = creation.heap!.initial * 16 + creation.chunk!.initial + creation.stack! * 16;
		assert.ok(esp32 <= 80 * 1024, `${esp32} bytes ESP32-equivalent`);
		for (const [name, platform] of Object.entries(manifest.platforms)) assert.equal((platform as { creation?: unknown }).creation, undefined, `${name} keeps the one arena`);
	});

	it("names every module file that exists", function () {
		for (const [name, source] of Object.entries({ ...manifest.modules, ...manifest.platforms.esp32!.modules, ...manifest.platforms.lin!.modules })) {
			for (const file of ([] as string[]).concat(source).filter((file) => !file.startsWith("$("))) {
				if (file.includes("*")) assert.ok(fs.existsSync(path.join(projectRoot, path.dirname(file))), `${name}: ${file}`);
				else assert.ok([".ts", ".d.ts"].some((extension) => fs.existsSync(path.join(projectRoot, file + extension))), `${name}: ${file}.ts`);
			}
		}
	});
});
