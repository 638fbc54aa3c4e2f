// Moddable's ECMA-419 sensor drivers and 1-Wire driver, in the subset the
// ESP32 host uses. @moddable/typings has no declarations for them; the
// drivers live in $(MODDABLE)/modules/drivers/sensors and .../onewire.
declare module "embedded:sensor/Temperature/TMP102" {
	export default class TMP102 {
		constructor(options: { sensor: { io: unknown; data: number; clock: number; address?: number; hz?: number } });
		sample(): { temperature: number };
		close(): void;
	}
}

declare module "embedded:sensor/Humidity-Temperature/SHT3x" {
	export default class SHT3x {
		constructor(options: { sensor: { io: unknown; data: number; clock: number; address?: number; hz?: number } });
		sample(): { hygrometer: { humidity: number }; thermometer: { temperature: number } };
		close(): void;
	}
}

declare module "onewire" {
	export default class OneWire {
		constructor(options: { pin: number });
		search(): Uint8Array[];
		close(): void;
	}
}

declare module "DS18X20" {
	import type OneWire from "onewire";
	export default class DS18X20 {
		constructor(options: { bus: OneWire; index?: number });
		readonly present: boolean;
		readonly temperature: number;
	}
}

// Moddable's ESP32 reset reason ($(MODDABLE)/build/devices/esp32/modules/resetReason):
// esp_reset_reason() and its name ("Power-On", "Panic", "Task WDT", "Brownout", ...).
declare module "resetReason" {
	export default function getResetReason(): { reason: number; string: string };
}
