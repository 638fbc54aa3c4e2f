// Moddable's ECMA-419 TMP102 driver ($(MODDABLE)/modules/drivers/sensors/tmp102)
// ships no declarations. The manifest maps this file under the driver's own
// module name, so mcconfig's tsc finds it; tsconfig.json sees it too.
declare module "embedded:sensor/Temperature/TMP102" {
	export default class TMP102 {
		constructor(options: { sensor: { io: unknown; data: number; clock: number; address?: number; hz?: number } });
		sample(): { temperature: number };
		close(): void;
	}
}
