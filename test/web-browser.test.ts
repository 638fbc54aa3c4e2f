/*
 * The page in a real browser: Debian's chromium, driven by playwright-core,
 * against `npm start` (the XS host simulator) and against the firmware the
 * real Moddable SDK builds for mcsim. The browser loads the page, sees a
 * reading, switches the LED (mosquitto sees the state topic change),
 * submits an invalid setting and sees the field's error, then a valid one
 * that persists across a restart of the simulator. The first run leaves a
 * screenshot in docs/ for docs/web.md.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import mqtt from "mqtt";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { Mosquitto } from "../tools/rigs/mosquitto.js";
import { buildSimulatorAppFor, requireSdk, Simulator } from "../tools/rigs/mcsim.js";
import { waitFor } from "../tools/rigs/wait.js";
import { projectRoot } from "../tools/rigs/xs.js";

const chromiumPath = "/usr/bin/chromium";
const chromiumFlags = [
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
];

/** Waits until the element's text matches, as the page polls the device. */
async function waitText(page: Page, selector: string, pattern: RegExp, timeout = 30000): Promise<void> {
	let last: string | null = null;
	await waitFor(async () => pattern.test((last = await page.textContent(selector)) ?? ""), timeout, `${selector} to match ${pattern} (last: ${JSON.stringify(last)})`, 100);
}

/** A simulator that serves the page and can be restarted with its flash kept. */
interface Target {
	start(): Promise<string>;
	stop(): Promise<void>;
	trace(): string;
}

/** `npm start`'s program, with its flash in a file of the test's own. */
function npmStartTarget(brokerPort: number, overrides: Record<string, string>, flash: string): Target {
	let child: ChildProcess | undefined;
	let output = "";
	return {
		async start() {
			output = "";
			const args = ["--import", "./scripts/register.mjs", "build/js/tools/start.js", "--broker", `mqtt://127.0.0.1:${brokerPort}`, "--flash", flash,
				...Object.entries(overrides).map(([key, value]) => `${key}=${value}`)];
			child = spawn(process.execPath, args, { cwd: projectRoot, env: { ...process.env, NO_DASHBOARD: "1" }, stdio: ["ignore", "pipe", "pipe"] });
			child.stdout!.on("data", (data: Buffer) => (output += data.toString()));
			child.stderr!.on("data", (data: Buffer) => (output += data.toString()));
			await waitFor(() => /web page: http:\/\/127\.0\.0\.1:\d+\//.test(output), 20000, `the web page's address; output:\n${output}`);
			return /web page: (http:\/\/127\.0\.0\.1:\d+)\//.exec(output.slice(output.lastIndexOf("web page:")))![1]!;
		},
		async stop() {
			if (!child || child.exitCode !== null) return;
			const exited = new Promise((resolve) => child!.once("exit", resolve));
			child.kill("SIGTERM");
			await exited;
		},
		trace: () => output,
	};
}

/** The firmware in mcsim; port 0 asks the SDK's listener for a free port, which the trace tells. */
function mcsimTarget(moddable: string, app: string): Target {
	let simulator: Simulator | undefined;
	return {
		async start() {
			simulator = Simulator.start(moddable, app);
			const pattern = /web page at http:\/\/<device>:(\d+)\//;
			await waitFor(() => simulator!.lines.some((line) => pattern.test(line)), 60000, `the web page's port; trace:\n${simulator.trace}`);
			const line = simulator.lines.find((candidate) => pattern.test(candidate))!;
			return `http://127.0.0.1:${pattern.exec(line)![1]}`;
		},
		async stop() {
			await simulator?.kill("SIGTERM");
		},
		trace: () => simulator?.trace ?? "",
	};
}

function scenario(name: string, prepare: (context: Mocha.Context, brokerPort: number, overrides: Record<string, string>) => Promise<Target>, screenshot?: string): void {
	describe(`the page in chromium against ${name}`, function () {
		this.timeout(240000);
		const prefix = `browser-${name.replace(/\W+/g, "-")}`;
		const overrides = {
			mqtt_client_id: `${prefix}-device`, sensor_interval: "1000",
			topic_temperature: `${prefix}/temp`, topic_status: `${prefix}/status`, topic_events: `${prefix}/events`,
			topic_led_command: `${prefix}/led`, topic_led_state: `${prefix}/led/state`,
		};
		let broker: Mosquitto | undefined;
		let watcher: mqtt.MqttClient | undefined;
		let target: Target | undefined;
		let context: BrowserContext | undefined;
		let page: Page;
		let url: string;
		let profile: string;
		const states: string[] = [];

		before(async function () {
			if (!fs.existsSync(chromiumPath)) throw new Error(`${chromiumPath} is missing: apt-get install chromium (.ci/run does)`);
			broker = await Mosquitto.start();
			watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: `${prefix}-watcher`, reconnectPeriod: 0 });
			watcher.on("message", (_topic, payload) => states.push(payload.toString()));
			await watcher.subscribeAsync(overrides.topic_led_state, { qos: 1 });
			target = await prepare(this, broker.port, overrides);
			url = await target.start();
			profile = fs.mkdtempSync(path.join(os.tmpdir(), "room1-chromium-"));
			// A fresh profile each run; playwright passes it as --user-data-dir.
			context = await chromium.launchPersistentContext(profile, {
				executablePath: chromiumPath, headless: true, args: chromiumFlags, viewport: { width: 400, height: 860 }, timeout: 60000,
			});
			page = context.pages()[0] ?? await context.newPage();
		});

		after(async function () {
			// Leave nothing stored behind (mcsim's preferences file is shared by the computer).
			if (url) await fetch(`${url}/api/settings/reset`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" }).catch(() => {});
			await context?.close();
			await target?.stop();
			await watcher?.endAsync(true);
			await broker?.stop();
			if (profile) fs.rmSync(profile, { recursive: true, force: true });
		});

		it("loads the page and sees a reading, Wi-Fi and MQTT connected", async function () {
			await page.goto(`${url}/`).catch((error: Error) => {
				throw new Error(`${error.message}\n${target!.trace()}`);
			});
			await waitText(page, "#temp", /°C$/);
			await waitText(page, "#mqtt", /^MQTT connected$/);
			assert.equal(await page.textContent("#wifi"), "Wi-Fi connected");
			assert.match(await page.textContent("#sec") ?? "", /anyone on this network can change this device/);
		});

		it("POST /api/update: this host has no embedded:update and says so (501)", async function () {
			const response = await fetch(`${url}/api/update`, { method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: "" });
			assert.equal(response.status, 501);
			assert.match(((await response.json()) as { error: string }).error, /cannot update its firmware over the network: OTA needs embedded:update \(ESP32\)/);
		});

		it("switches the LED, and mosquitto sees the state topic change", async function () {
			const before = states.length;
			await page.click(".sw");
			await waitFor(() => states.slice(before).includes("on"), 10000, `"on" on ${overrides.topic_led_state}; got ${JSON.stringify(states)}`);
			assert.equal(await page.isChecked("#led"), true);
			await page.click(".sw");
			await waitFor(() => states.slice(before).includes("off"), 10000, `"off" on ${overrides.topic_led_state}`);
		});

		it("shows the field's error for an invalid setting and stores nothing", async function () {
			await page.click("#open");
			await page.waitForSelector("#f_sensor_interval");
			await page.fill("#f_sensor_interval", "5");
			await page.click("#settings button[type=submit]");
			await waitText(page, "[data-error=sensor_interval]", /./, 10000);
			assert.equal(await page.textContent("[data-error=sensor_interval]"), 'sensor_interval="5" must be an integer 100-86400000');
			assert.equal(await page.textContent("#result"), "settings not saved");
		});

		it("stores a valid setting that survives a restart of the simulator", async function () {
			await page.fill("#f_sensor_interval", "1000");
			await page.fill("#f_device_name", "Browser room");
			await page.click("#settings button[type=submit]");
			await waitText(page, "#result", /^Saved/, 10000);
			await target!.stop();
			url = await target!.start();
			await page.goto(`${url}/`);
			await waitText(page, "#name", /^Browser room$/);
			if (screenshot) {
				// A few readings for the chart, then the page as a phone shows it.
				await waitFor(async () => (await page.getAttribute("#chart", "points") ?? "").split(" ").length >= 8, 30000, "eight readings in the chart", 200);
				await page.screenshot({ path: screenshot });
			}
			await page.click("#open");
			await page.waitForSelector("#f_device_name");
			assert.equal(await page.inputValue("#f_device_name"), "Browser room");
			assert.equal(await page.textContent("label[for=f_device_name] small"), "(stored)");
		});

		it("on a reload: the chart starts from the readings the device keeps, with a scale; Show becomes Hide; nothing is a 404 (the icon is inline)", async function () {
			const failed: string[] = [];
			page.on("response", (response) => {
				if (response.status() >= 400) failed.push(`${response.status()} ${response.url()}`);
			});
			const kept = async (): Promise<number> => ((await (await fetch(`${url}/api/readings`)).json()) as { temperatures: number[] }).temperatures.length;
			await waitFor(async () => (await kept()) >= 4, 20000, "four readings kept on the device", 200);
			await page.reload();
			await waitText(page, "#hi", /°C$/, 10000);
			// Drawn first from /api/readings: without it the chart would start from one point, the first poll's.
			assert.ok((await page.getAttribute("#chart", "points") ?? "").split(" ").length >= 4, "seeded from the readings the device keeps");
			assert.match(await page.textContent("#lo") ?? "", /°C$/);
			assert.match(await page.textContent("#span") ?? "", /^last \d+ readings, one every 1 s$/);
			assert.equal(await page.textContent("#open"), "Show");
			await page.click("#open");
			await page.waitForSelector("#f_device_name");
			assert.equal(await page.textContent("#open"), "Hide");
			await page.click("#open");
			assert.equal(await page.isHidden("#settings"), true);
			assert.equal(await page.textContent("#open"), "Show");
			assert.deepEqual(failed, []);
		});
	});
}

scenario("npm start (XS host simulator)", async (_context, brokerPort, overrides) => {
	const flash = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "room1-flash-")), "flash.json");
	return npmStartTarget(brokerPort, overrides, flash);
}, process.env.SCREENSHOT ? path.join(projectRoot, "docs", "web-page.png") : undefined);

scenario("the firmware in mcsim (real SDK)", async (context, brokerPort, overrides) => {
	const moddable = requireSdk(context);
	const app = await buildSimulatorAppFor(context, moddable, { ssid: "sim", mqtt_host: "127.0.0.1", mqtt_port: String(brokerPort), http_port: "0", ...overrides });
	return mcsimTarget(moddable, app);
});
