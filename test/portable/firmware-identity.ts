/*
 * The device's identity and a broker's takeover, on a virtual clock, on
 * Node and on XS: with mqtt_client_id unset the client id, the Home
 * Assistant device and the setup access point come from the MAC (room1-
 * and its last three bytes, as ESPHome); a connection the broker closes
 * soon after CONNACK, again and again, is reported as another client with
 * the same id, in the log and on the events topic, once per streak. The
 * host is asked to announce <identity>.local by mDNS on every Wi-Fi connect.
 */
import { defineSuite } from "test/lib/suite";
import * as assert from "test/lib/assert";
import { FakeHost, seededRandom } from "test/lib/fake-host";
import { parseConfig } from "config";
import { startFirmware } from "firmware/app";
import { deviceIdentity, hostLabel, identityFromMac, takeoverCount, takeoverWindow } from "firmware/identity";
import { PacketType } from "mqtt/packets";
import type { FirmwareHandle } from "platform";

function boot(overrides: Record<string, string> = {}, prepare?: (host: FakeHost) => void): { host: FakeHost; firmware: FirmwareHandle } {
	const host = new FakeHost();
	prepare?.(host);
	const config = parseConfig({ ssid: "home", sensor: "simulated", sensor_interval: "60000", mqtt_backoff_min: "500", mqtt_backoff_max: "1000", ...overrides });
	const firmware = startFirmware(host, config, { random: seededRandom(7) });
	host.virtual.advance(200);
	return { host, firmware };
}

/** The client ids the device sent in CONNECT, one per connection. */
function connectIds(host: FakeHost): string[] {
	return host.broker.connections.flatMap((connection) => connection.received.flatMap((packet) => (packet.type === PacketType.Connect ? [packet.clientId] : [])));
}

/** The broker drops every connection `after` ms past its CONNACK, as it does when another client takes the id over. */
function takenOver(host: FakeHost, after: number, connections: number): void {
	for (let i = 0; i < connections; i++) {
		const connection = host.broker.current;
		assert.ok(connection !== undefined, `connection ${i + 1} is up`);
		host.virtual.advance(after);
		connection!.drop("connection closed by peer");
		// Backoff (500-1000 ms) and the next CONNACK.
		host.virtual.advance(1200);
	}
}

const takeoverReports = (host: FakeHost): string[] => host.broker.publishedTo("sensors/room1/status/events").filter((payload) => payload.includes('"client_id_taken"'));

export const suite = defineSuite("device identity and takeover", {
	"room1- and the MAC's last three bytes, lower-case, as ESPHome; a configured id wins; no MAC falls back and says so"() {
		assert.equal(identityFromMac("A4:D1:8C:DB:C0:2F"), "room1-dbc02f");
		assert.equal(identityFromMac("a4-d1-8c-00-00-01"), "room1-000001");
		assert.equal(identityFromMac(undefined), undefined);
		assert.equal(identityFromMac("a4:d1"), undefined);
		assert.equal(deviceIdentity("kitchen", "a4:d1:8c:db:c0:2f").id, "kitchen");
		assert.equal(deviceIdentity("", "a4:d1:8c:db:c0:2f").id, "room1-dbc02f");
		const none = deviceIdentity("", undefined);
		assert.equal(none.id, "room1-sensor");
		assert.ok(/not unique/.test(none.source), none.source);
		assert.equal(hostLabel("Room 1_Sensor."), "room-1-sensor");
		assert.equal(hostLabel("room1-dbc02f"), "room1-dbc02f");
	},

	"mqtt_client_id defaults to empty, and the device connects as room1-<MAC> with a persistent session"() {
		assert.equal(parseConfig({}).mqtt.clientId, "");
		const { host, firmware } = boot({ ha_discovery: "true" });
		assert.equal(firmware.status().mqtt, "connected");
		assert.deepEqual(connectIds(host), ["room1-dbc020"]);
		const light = host.broker.publishedTo("homeassistant/light/room1-dbc020/led/config");
		assert.equal(light.length, 1);
		assert.deepEqual((JSON.parse(light[0]!) as { device: { identifiers: string[] } }).device.identifiers, ["room1-dbc020"]);
		assert.equal(host.logged("firmware", /starting/)[0]!.fields!.clientId, "room1-dbc020");
	},

	"two devices differ by their MACs; a set mqtt_client_id is used as given"() {
		const other = boot({}, (host) => (host.mac = "a4:d1:8c:00:11:22"));
		assert.deepEqual(connectIds(other.host), ["room1-001122"]);
		const named = boot({ mqtt_client_id: "kitchen" });
		assert.deepEqual(connectIds(named.host), ["kitchen"]);
	},

	"a takeover (closed soon after CONNACK, again and again) is reported once as another client with the same id"() {
		const { host } = boot();
		takenOver(host, 2000, takeoverCount - 1);
		assert.equal(host.logged("mqtt", /another client with the same id/).length, 0, "not before the count");
		takenOver(host, 2000, 1);
		const logged = host.logged("mqtt", /another client with the same id "room1-dbc020"/);
		assert.equal(logged.length, 1);
		assert.equal(logged[0]!.level, "error");
		assert.ok(/give each device its own mqtt_client_id/.test(logged[0]!.message), logged[0]!.message);
		// On the events topic, once the device is connected again.
		const reports = takeoverReports(host);
		assert.equal(reports.length, 1);
		assert.equal((JSON.parse(reports[0]!) as { clientId: string }).clientId, "room1-dbc020");
		// The streak goes on: said once, not on every drop.
		takenOver(host, 2000, 4);
		assert.equal(host.logged("mqtt", /another client with the same id/).length, 1);
		// A connection that lasts ends the streak; a new streak is reported again.
		host.virtual.advance(takeoverWindow + 1000);
		takenOver(host, 0, 1);
		takenOver(host, 2000, takeoverCount);
		assert.equal(host.logged("mqtt", /another client with the same id/).length, 2);
	},

	"mDNS: <identity>.local with the page's port is announced on every Wi-Fi connect; without the page, the name alone"() {
		const { host } = boot({ mqtt_client_id: "Kitchen Sensor", http_port: "8080" });
		assert.deepEqual(host.advertised, [{ hostName: "kitchen-sensor", httpPort: 8080 }]);
		host.setAccessPoint(false);
		host.virtual.advance(1000);
		host.setAccessPoint(true);
		host.virtual.advance(70000);
		assert.deepEqual(host.advertised.map((a) => a.hostName), ["kitchen-sensor", "kitchen-sensor"], "again after a new connect");
		const bare = boot({ http_enabled: "false" });
		assert.deepEqual(bare.host.advertised, [{ hostName: "room1-dbc020", httpPort: undefined }]);
	},

	"drops after long connections, or failures before CONNACK, are not a takeover"() {
		const { host } = boot();
		for (let i = 0; i < 6; i++) takenOver(host, takeoverWindow, 1);
		host.broker.setUp(false);
		host.virtual.advance(20000);
		host.broker.setUp(true);
		host.virtual.advance(5000);
		assert.equal(host.logged("mqtt", /another client with the same id/).length, 0);
		assert.deepEqual(takeoverReports(host), []);
	},
});
