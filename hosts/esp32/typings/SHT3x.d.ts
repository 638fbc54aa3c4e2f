// Moddable's ECMA-419 SHT3x driver ($(MODDABLE)/modules/drivers/sensors/sht3x)
// ships no declarations. The manifest maps this file under the driver's own
// module name, so mcconfig's tsc finds it; tsconfig.json sees it too.
declare module "embedded:sensor/Humidity-Temperature/SHT3x" {
	export default class SHT3x {
		constructor(options: { sensor: { io: unknown; data: number; clock: number; address?: number; hz?: number } });
		sample(): { hygrometer: { humidity: number }; thermometer: { temperature: number } };
		close(): void;
	}
}
