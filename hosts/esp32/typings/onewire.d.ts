// For `npm run typecheck`, which runs without the SDK: the subset of the
// declarations Moddable ships beside its 1-Wire drivers
// ($(MODDABLE)/modules/drivers/onewire/onewire.d.ts and DS18X20.d.ts).
// mcconfig's tsc uses those, so the manifest does not list this file; the
// module-map test checks, with the SDK, that they are reachable.
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
