/*
 * "mc/config" in the XS host simulator. On a device mcconfig generates this
 * module from the manifest's config and the command line's key=value pairs;
 * here the simulator's Node side does the same, and the module asks for the
 * result once, when it is first imported. Frozen, as on the device.
 */
const request = new TextEncoder().encode(JSON.stringify({ q: "config" })).buffer as ArrayBuffer;
const config = Object.freeze(JSON.parse(new TextDecoder().decode(issueCommand(request))) as Record<string, string | number | boolean>);
export default config;
