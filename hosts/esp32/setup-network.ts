/*
 * Replaces Moddable's `setup/network` on the ESP32. Moddable's version
 * connects Wi-Fi before `main` runs and never runs `main` if Wi-Fi never
 * connects, and it does not reconnect after a drop. Our Wi-Fi manager
 * (modules/firmware/wifi) owns the radio, so this only lets `main` start.
 *
 * Moddable's sntp manifest brings in manifest_net.json and with it the
 * SDK's setup/network; mcconfig writes a build rule for each, and the later
 * one, this app's, is the one make keeps.
 */
export default function setupNetwork(done: () => void): void {
	done();
}
