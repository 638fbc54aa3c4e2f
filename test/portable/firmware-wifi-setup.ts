/*
 * First boot and lost networks on a virtual clock, on Node and on XS: the
 * Wi-Fi manager opens the setup access point (<identity>-setup) with no
 * ssid at once, or after wifi_setup_after ms without a network, keeps
 * trying to join beside it, and closes it once it has an IP address. A
 * radio without AP mode only says why there is no setup network.
 */
import { defineSuite } from "test/lib/suite";
import * as assert from "test/lib/assert";
import { FakeHost, seededRandom } from "test/lib/fake-host";
import { ConfigError, parseConfig } from "config";
import { startFirmware } from "firmware/app";
import { setupName } from "firmware/wifi";
import type { FirmwareHandle } from "platform";

/** A radio with AP mode, as the ESP32's: the access point's life, in order. */
class ApHost extends FakeHost {
	readonly accessPoints: string[] = [];
	apOpen: string | undefined;
	constructor() {
		super();
		Object.assign(this.wifi, {
			openAccessPoint: (ssid: string) => {
				this.apOpen = ssid;
				this.accessPoints.push(`open ${ssid}`);
			},
			closeAccessPoint: () => {
				this.accessPoints.push(`close ${this.apOpen}`);
				this.apOpen = undefined;
			},
			mac: () => "a4:d1:8c:db:c0:20",
		});
	}
}

function boot(overrides: Record<string, string>, prepare?: (host: ApHost) => void, host = new ApHost()): { host: ApHost; firmware: FirmwareHandle } {
	prepare?.(host);
	const config = parseConfig({ sensor: "simulated", sensor_interval: "1000", wifi_connect_timeout: "5000", wifi_backoff_min: "1000", wifi_backoff_max: "8000", ...overrides });
	return { host, firmware: startFirmware(host, config, { random: seededRandom(5) }) };
}

export const suite = defineSuite("Wi-Fi setup access point", {
	"no ssid: the setup access point opens at once, named from the MAC, and nothing is joined"() {
		const { host, firmware } = boot({ ssid: "" });
		assert.deepEqual(host.accessPoints, ["open room1-dbc020-setup"]);
		host.virtual.advance(600000);
		assert.equal(host.wifiAttempts, 0);
		assert.equal(firmware.status().wifi, "setup");
		assert.equal(firmware.status().accessPoint, "room1-dbc020-setup");
		firmware.shutdown();
		assert.deepEqual(host.accessPoints, ["open room1-dbc020-setup", "close room1-dbc020-setup"]);
	},

	"a network that never answers: the access point opens after wifi_setup_after, joining goes on, and it closes on joining"() {
		const { host, firmware } = boot({ ssid: "home", wifi_setup_after: "60000" }, (h) => (h.accessPointUp = false));
		host.virtual.advance(59999);
		assert.deepEqual(host.accessPoints, [], "not before wifi_setup_after");
		host.virtual.advance(1);
		assert.deepEqual(host.accessPoints, ["open room1-dbc020-setup"]);
		const attempts = host.wifiAttempts;
		host.virtual.advance(60000);
		assert.ok(host.wifiAttempts > attempts, "the station keeps trying beside the access point");
		assert.equal(host.apOpen, "room1-dbc020-setup");
		host.setAccessPoint(true);
		host.virtual.advance(10000);
		assert.equal(firmware.status().wifi, "connected");
		assert.deepEqual(host.accessPoints, ["open room1-dbc020-setup", "close room1-dbc020-setup"]);
		assert.equal(firmware.status().accessPoint, null);
		assert.equal(host.logged("wifi", /joined "home": setup access point "room1-dbc020-setup" closed/).length, 1);
	},

	"a network that joins in time never opens the access point; losing it later starts the count again"() {
		const { host, firmware } = boot({ ssid: "home", wifi_setup_after: "30000" });
		host.virtual.advance(120000);
		assert.equal(firmware.status().wifi, "connected");
		assert.deepEqual(host.accessPoints, []);
		host.setAccessPoint(false);
		host.virtual.advance(29999);
		assert.deepEqual(host.accessPoints, []);
		host.virtual.advance(1);
		assert.deepEqual(host.accessPoints, ["open room1-dbc020-setup"]);
		host.setAccessPoint(true);
		host.virtual.advance(10000);
		assert.deepEqual(host.accessPoints, ["open room1-dbc020-setup", "close room1-dbc020-setup"]);
		// A short drop that recovers in time opens nothing.
		host.setAccessPoint(false);
		host.virtual.advance(2000);
		host.setAccessPoint(true);
		host.virtual.advance(60000);
		assert.equal(host.accessPoints.length, 2);
	},

	"wifi_setup_after=0 never opens it for a lost network; the default is 300000 ms"() {
		const never = boot({ ssid: "home", wifi_setup_after: "0" }, (h) => (h.accessPointUp = false));
		never.host.virtual.advance(3600000);
		assert.deepEqual(never.host.accessPoints, []);
		const standard = boot({ ssid: "home" }, (h) => (h.accessPointUp = false));
		standard.host.virtual.advance(299999);
		assert.deepEqual(standard.host.accessPoints, []);
		standard.host.virtual.advance(1);
		assert.deepEqual(standard.host.accessPoints, ["open room1-dbc020-setup"]);
	},

	"wifi_setup_after is validated like every key"() {
		assert.equal(parseConfig({ ssid: "x" }).wifi.setupAfter, 300000);
		for (const bad of ["5000", "-1", "soon", "86400001"]) {
			assert.throws(() => parseConfig({ ssid: "x", wifi_setup_after: bad }), /wifi_setup_after/, bad);
		}
		try {
			parseConfig({ ssid: "x", wifi_setup_after: "5000" });
		} catch (error) {
			assert.ok(error instanceof ConfigError);
			assert.ok(/must be 0 \(never\) or at least 10000 ms/.test((error as Error).message), (error as Error).message);
		}
	},

	"a radio without AP mode (the simulators) says so and joins its own network"() {
		const host = new FakeHost();
		const config = parseConfig({ ssid: "", sensor: "simulated", wifi_setup_after: "10000" });
		const firmware = startFirmware(host, config, { random: seededRandom(5) });
		host.virtual.advance(1000);
		assert.equal(firmware.status().wifi, "connected");
		assert.equal(host.logged("wifi", /fake has no access-point mode: no setup network/).length, 1);
		host.setAccessPoint(false);
		host.virtual.advance(20000);
		assert.equal(host.logged("wifi", /no network joined within 10000 ms, and fake has no access-point mode/).length, 1);
		assert.equal(firmware.status().accessPoint, null);
	},

	"the access point is named after the device's identity, within an SSID's 32 bytes"() {
		assert.equal(setupName("room1-c02f01"), "room1-c02f01-setup");
		assert.equal(setupName("kitchen"), "kitchen-setup");
		assert.equal(setupName("a".repeat(40)).length, 32);
		const { host } = boot({ ssid: "", mqtt_client_id: "kitchen" });
		assert.deepEqual(host.accessPoints, ["open kitchen-setup"]);
	},
});
