/*
 * `npm start` for a newcomer: every mistake explained at once, on a
 * terminal or not, with exit code 2; --help; secrets from
 * manifest_local.json or the environment; the broker on port 1883 never
 * moved quietly. The process tests run build/js/tools/start.js as
 * npm start does, with no broker started (a mistake stops it before).
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { ConfigError } from "config";
import { chooseBroker, probeMqttBroker, startEmbeddedBroker } from "../tools/embedded-broker.js";
import { environmentConfig, jsonProblem, localManifestConfig, localManifestNote, manifestConfigOf, parseStartArguments, simulatorConfig, UsageError } from "../tools/start-options.js";
import { projectRoot } from "../hosts/xsnap/paths.js";
import { freePort } from "../tools/rigs/mosquitto.js";
import { manifestConfig } from "../tools/rigs/firmware.js";

const startScript = path.join(projectRoot, "build/js/tools/start.js");

interface Run {
	code: number | null;
	stdout: string;
	stderr: string;
	ms: number;
}

/** Runs npm start's script; generous bound: a mistake must end it, not a timeout. */
function runStart(args: string[], env: Record<string, string> = {}): Promise<Run> {
	return new Promise((resolve, reject) => {
		const began = performance.now();
		const child = spawn(process.execPath, ["--import", "./scripts/register.mjs", startScript, ...args], {
			cwd: projectRoot, env: { ...process.env, NO_DASHBOARD: "", ...env }, stdio: ["ignore", "pipe", "pipe"],
		});
		let stdout = "", stderr = "";
		child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
		child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
		const timer = setTimeout(() => {
			child.kill("SIGKILL");
			reject(new Error(`npm start did not exit within 15 s; stdout: ${stdout} stderr: ${stderr}`));
		}, 15000);
		child.on("exit", (code) => {
			clearTimeout(timer);
			resolve({ code, stdout, stderr, ms: performance.now() - began });
		});
	});
}

describe("npm start: a newcomer's mistakes", function () {
	this.timeout(30000);

	it("a bad value and a misspelt key: both printed plainly, exit code 2, nothing started", async function () {
		const run = await runStart(["mqtt_port=abc", "mqtt_prot=1884"]);
		assert.equal(run.code, 2, run.stdout + run.stderr);
		assert.match(run.stderr, /ERROR config: unknown key mqtt_prot; did you mean mqtt_port\?/);
		assert.match(run.stderr, /ERROR config: mqtt_port="abc" must be an integer 1-65535/);
		assert.match(run.stderr, /--help/);
		assert.doesNotMatch(run.stdout, /XS host simulator|shutting down|rebuild/);
	});

	it("on a terminal too: the errors are on the screen and the process exits 2", async function () {
		// util-linux `script` (on every Debian and Ubuntu) gives the child a pseudo-terminal, as a newcomer's shell does.
		const command = `${process.execPath} --import ./scripts/register.mjs ${startScript} mqtt_port=abc`;
		const result = spawnSync("script", ["-qec", command, "/dev/null"], { cwd: projectRoot, encoding: "utf8", timeout: 15000, env: { ...process.env, NO_DASHBOARD: "" } });
		assert.equal(result.status, 2, result.stdout);
		assert.match(result.stdout, /mqtt_port="abc" must be an integer 1-65535/);
	});

	it("--help, -h and help print usage naming the arguments and the configuration table, exit 0", async function () {
		for (const flag of ["--help", "-h", "help"]) {
			const run = await runStart([flag]);
			assert.equal(run.code, 0, flag);
			assert.match(run.stdout, /usage: npm start -- \[--broker URL\] \[--flash FILE\] \[key=value \.\.\.\]/);
			assert.match(run.stdout, /Configuration" table in\s+docs\/configuration\.md/);
			assert.match(run.stdout, /manifest_local\.json/);
			assert.match(run.stdout, /ROOM1_MQTT_PASSWORD/);
		}
	});

	it("--broker notaurl names the value; an unknown argument says what is expected", async function () {
		const run = await runStart(["--broker", "notaurl", "mqtt_prot"]);
		assert.equal(run.code, 2);
		assert.match(run.stderr, /--broker "notaurl" is not a URL: expected mqtt:\/\/HOST:PORT/);
		assert.match(run.stderr, /unknown argument "mqtt_prot": expected --broker URL, --flash FILE, key=value or --help \(did you mean mqtt_port=\.\.\.\?\)/);
	});

	it("an environment variable is a config key, checked like one and named in its error", async function () {
		const run = await runStart([], { ROOM1_MQTT_PROT: "1884", ROOM1_SENSOR_INTERVAL: "fast" });
		assert.equal(run.code, 2);
		assert.match(run.stderr, /unknown key mqtt_prot; did you mean mqtt_port\? \(from ROOM1_MQTT_PROT\)/);
		assert.match(run.stderr, /sensor_interval="fast" must be an integer .* \(from ROOM1_SENSOR_INTERVAL\)/);
	});

	it("a sensor the simulator does not have is refused, with the two it has", async function () {
		const run = await runStart(["sensor=tmp102"]);
		assert.equal(run.code, 2);
		assert.match(run.stderr, /sensor=tmp102 needs a device; the simulator offers sensor=simulated, or sensor=simulated-faulty/);
	});

	it("arguments: key=value pairs and --broker, every bad one reported at once", function () {
		const parsed = parseStartArguments(["--broker=mqtt://127.0.0.1:1999", "sensor_interval=2000", "mqtt_password=a=b"]);
		assert.equal(parsed.broker?.port, "1999");
		assert.deepEqual(parsed.overrides, { sensor_interval: "2000", mqtt_password: "a=b" });
		assert.throws(() => parseStartArguments(["--broker"]), /--broker needs a URL/);
		assert.equal(parseStartArguments(["--flash", "/tmp/f.json"]).flash, "/tmp/f.json");
		assert.equal(parseStartArguments([]).flash, undefined);
		assert.throws(() => parseStartArguments(["--flash"]), /--flash needs a file name/);
		assert.throws(() => parseStartArguments(["--broker", "http://x"]), /only mqtt:\/\/ brokers/);
		assert.throws(() => parseStartArguments([], { MQTT_URL: "nope" }), (error: unknown) => error instanceof UsageError && /MQTT_URL "nope" is not a URL/.test(error.message));
		try {
			parseStartArguments(["-x", "--broker", "bad"]);
			assert.fail("no error");
		} catch (error) {
			assert.equal((error as UsageError).problems.length, 2);
		}
	});

	it("secrets: manifest_local.json's config and ROOM1_ variables reach the firmware; the command line wins; bad keys name their source", function () {
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), "room1-local-"));
		try {
			const file = path.join(dir, "manifest_local.json");
			fs.writeFileSync(file, JSON.stringify({ include: ["./manifest.json"], config: { ssid: "home", mqtt_password: "from-file", mqtt_username: "room1", mqtt_port: 1884 } }));
			const local = manifestConfigOf(file);
			assert.deepEqual(local, { ssid: "home", mqtt_password: "from-file", mqtt_username: "room1", mqtt_port: "1884" });
			assert.deepEqual(manifestConfigOf(path.join(dir, "absent.json")), {});
			const environment = environmentConfig({ ROOM1_MQTT_PASSWORD: "from-env", PATH: "/bin" });
			assert.deepEqual(environment, { mqtt_password: "from-env" });
			const layers = { manifest: manifestConfig(), local, environment, board: { ssid: "simulator", sensor: "simulated" }, overrides: {} };
			const config = simulatorConfig(layers);
			assert.equal(config.mqtt_password, "from-env", "the environment over the local manifest");
			assert.equal(config.mqtt_username, "room1");
			assert.equal(config.ssid, "simulator", "the simulated board's own network");
			assert.equal(simulatorConfig({ ...layers, overrides: { mqtt_password: "cli" } }).mqtt_password, "cli");
			fs.writeFileSync(file, JSON.stringify({ config: { mqtt_pasword: "x" } }));
			assert.throws(() => simulatorConfig({ ...layers, local: manifestConfigOf(file) }),
				(error: unknown) => error instanceof ConfigError && error.problems[0] === "unknown key mqtt_pasword; did you mean mqtt_password? (from manifest_local.json)");
			fs.writeFileSync(file, "{ not json");
			assert.throws(() => manifestConfigOf(file), /manifest_local\.json is not valid JSON/);
		} finally {
			fs.rmSync(dir, { recursive: true, force: true });
		}
	});

	it("manifest_local.json is git-ignored, and the example includes manifest.json as mcconfig needs", function () {
		assert.match(fs.readFileSync(path.join(projectRoot, ".gitignore"), "utf8"), /^manifest_local\.json$/m);
		const example = JSON.parse(fs.readFileSync(path.join(projectRoot, "manifest_local.example.json"), "utf8")) as { include: string[]; config: Record<string, string> };
		assert.deepEqual(example.include, ["./manifest.json"]);
		simulatorConfig({ manifest: manifestConfig(), local: example.config, environment: {}, board: { ssid: "simulator", sensor: "simulated" }, overrides: {} });
	});
});

/** Runs npm start's script until stdout matches `until`, then stops it with SIGINT as Ctrl-C would. */
function runStartUntil(args: string[], until: RegExp): Promise<string> {
	return new Promise((resolve, reject) => {
		const child = spawn(process.execPath, ["--import", "./scripts/register.mjs", startScript, ...args], {
			cwd: projectRoot, env: { ...process.env, NO_DASHBOARD: "" }, stdio: ["ignore", "pipe", "pipe"],
		});
		let output = "";
		const timer = setTimeout(() => {
			child.kill("SIGKILL");
			reject(new Error(`no ${until} within 30 s: ${output}`));
		}, 30000);
		const seen = (chunk: Buffer): void => {
			output += chunk.toString();
			if (until.test(output)) {
				clearTimeout(timer);
				child.kill("SIGINT");
			}
		};
		child.stdout.on("data", seen);
		child.stderr.on("data", seen);
		child.on("exit", () => {
			clearTimeout(timer);
			if (until.test(output)) resolve(output);
			else reject(new Error(`npm start ended without ${until}: ${output}`));
		});
	});
}

describe("npm start: the first hour", function () {
	this.timeout(90000);

	it("http_port given is the port served on 127.0.0.1, and the printed URL names it", async function () {
		const port = await freePort();
		const broker = await startEmbeddedBroker(0);
		try {
			const output = await runStartUntil(["--broker", `mqtt://127.0.0.1:${broker.port}`, `http_port=${port}`], /web page: http:\/\/127\.0\.0\.1:\d+\//);
			assert.match(output, new RegExp(`web page: http://127\\.0\\.0\\.1:${port}/`));
			assert.match(output, new RegExp(`device port ${port} is at http://127\\.0\\.0\\.1:${port}/`));
		} finally {
			await broker.close();
		}
	});

	it("npm start --broker URL (the -- left out): npm took the option; the hint says to write npm start -- --broker", async function () {
		// What npm hands the script: it keeps --broker (npm_config_broker=true) and passes the URL on alone.
		const run = await runStart(["mqtt://127.0.0.1:1884"], { npm_config_broker: "true" });
		assert.equal(run.code, 2, run.stdout + run.stderr);
		assert.match(run.stderr, /npm took --broker for itself: arguments for npm start go after --, e.g\. npm start -- --broker mqtt:\/\/127\.0\.0\.1:1884/);
		assert.doesNotMatch(run.stderr, /unknown argument/);
		assert.throws(() => parseStartArguments([], { npm_config_broker: "mqtt://127.0.0.1:1884" }), /npm took --broker for itself/);
		assert.throws(() => parseStartArguments(["x.json"], { npm_config_flash: "true" }), /npm took --flash for itself/);
	});

	it("a stale build says building… before it builds; an up-to-date one says nothing", function () {
		const out = fs.mkdtempSync(path.join(os.tmpdir(), "room1-build-"));
		try {
			const build = (): string => spawnSync(process.execPath, ["scripts/build.mjs", "--if-stale", "--out", out], { cwd: projectRoot, encoding: "utf8", timeout: 120000 }).stdout;
			const first = build();
			assert.match(first.split("\n")[0]!, /^building… /);
			assert.match(first, /built \d+ modules/);
			assert.equal(build(), "");
		} finally {
			fs.rmSync(out, { recursive: true, force: true });
		}
	});

	it("manifest_local.json: announced by its keys (never values), JSON errors with line and column, and an include of ./manifest.json required as by mcconfig", function () {
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), "room1-local-"));
		try {
			const file = path.join(dir, "manifest_local.json");
			assert.equal(localManifestConfig(file), undefined, "no file: nothing");
			fs.writeFileSync(file, JSON.stringify({ include: ["./manifest.json"], config: { ssid: "home", password: "secret" } }));
			const config = localManifestConfig(file)!;
			assert.equal(localManifestNote(file, config), "manifest_local.json read: ssid, password");
			assert.doesNotMatch(localManifestNote(file, config), /secret/);
			fs.writeFileSync(file, JSON.stringify({ include: "./manifest.json", config: {} }));
			assert.deepEqual(localManifestConfig(file), {}, "one include as a string, as mcconfig takes it");
			fs.writeFileSync(file, JSON.stringify({ config: { ssid: "home" } }));
			assert.throws(() => localManifestConfig(file), /manifest_local\.json must include \.\/manifest\.json/);
			fs.writeFileSync(file, JSON.stringify({ include: ["./other.json"], config: {} }));
			assert.throws(() => localManifestConfig(file), /must include \.\/manifest\.json/);
			fs.writeFileSync(file, '{\n\t"include": ["./manifest.json"],\n\t"config": {\n\t\t"ssid": "home",\n\t}\n}\n');
			assert.throws(() => localManifestConfig(file), /manifest_local\.json is not valid JSON: line 5, column 2: /);
			fs.writeFileSync(file, '{\n\t"config": {\n');
			assert.throws(() => localManifestConfig(file), /line 3, column 1: /);
			assert.equal(jsonProblem("{}", new Error("Unexpected end of JSON input")), "line 1, column 3: the text ends too soon (a missing } or ])");
		} finally {
			fs.rmSync(dir, { recursive: true, force: true });
		}
	});

	it("did you mean, for every key: near misses of ours and the names other firmwares use (wifi_pasword: password)", function () {
		const layers = { manifest: manifestConfig(), local: {}, environment: {}, board: { ssid: "simulator", sensor: "simulated" }, overrides: {} };
		const problems = (overrides: Record<string, string>): readonly string[] => {
			try {
				simulatorConfig({ ...layers, overrides });
			} catch (error) {
				return (error as ConfigError).problems;
			}
			return [];
		};
		assert.deepEqual(problems({ wifi_pasword: "x" }), ["unknown key wifi_pasword; did you mean password?"]);
		assert.deepEqual(problems({ wifi_ssid: "x" }), ["unknown key wifi_ssid; did you mean ssid?"]);
		assert.deepEqual(problems({ mqtt_server: "x" }), ["unknown key mqtt_server; did you mean mqtt_host?"]);
		assert.deepEqual(problems({ mqtt_user: "x" }), ["unknown key mqtt_user; did you mean mqtt_username?"]);
		assert.deepEqual(problems({ sensor_intervall: "1" }), ["unknown key sensor_intervall; did you mean sensor_interval?"]);
	});
});

describe("npm start's broker on its fixed port", function () {
	this.timeout(20000);

	it("a free port: the embedded broker takes it, and answers MQTT", async function () {
		const port = await freePort();
		const choice = await chooseBroker(port);
		try {
			assert.equal(choice.kind, "embedded");
			assert.equal(choice.port, port);
			assert.equal(await probeMqttBroker(port), true);
		} finally {
			if (choice.kind === "embedded") await choice.broker.close();
		}
	});

	it("a broker already there: it is used as it is, on the same port", async function () {
		const port = await freePort();
		const existing = await startEmbeddedBroker(port);
		try {
			const choice = await chooseBroker(port);
			assert.deepEqual(choice, { kind: "existing", port });
		} finally {
			await existing.close();
		}
	});

	it("something that is not a broker: a clear error naming --broker, never another port", async function () {
		const port = await freePort();
		const server = net.createServer((socket) => socket.on("data", () => socket.write("HTTP/1.1 400 Bad Request\r\n\r\n")));
		await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
		try {
			await assert.rejects(chooseBroker(port), new RegExp(`port ${port} on 127\\.0\\.0\\.1 is taken by something that does not answer as an MQTT broker; stop it, or name a broker with --broker`));
		} finally {
			server.close();
		}
	});
});
