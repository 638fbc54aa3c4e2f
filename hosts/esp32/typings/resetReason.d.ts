// Moddable's ESP32 reset reason ($(MODDABLE)/build/devices/esp32/modules/resetReason):
// esp_reset_reason() and its name ("Power-On", "Panic", "Task WDT", "Brownout", ...).
// It ships no declarations; the manifest maps this file under the module's own name.
declare module "resetReason" {
	export default function getResetReason(): { reason: number; string: string };
}
