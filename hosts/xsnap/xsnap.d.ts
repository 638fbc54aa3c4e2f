// Globals of the xsnap worker (the XS engine of the XS host simulator).
declare function issueCommand(request: ArrayBuffer): ArrayBuffer;
declare function print(...values: unknown[]): void;
declare function gc(): void;
declare function resetMeter(newLimit: number, newIndex: number): number;
declare function currentMeterLimit(): number;
declare var handleCommand: (request: ArrayBuffer) => ArrayBuffer | undefined;
declare class TextEncoder {
	encode(text: string): Uint8Array;
}
declare class TextDecoder {
	constructor(label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean });
	decode(bytes: ArrayBuffer | ArrayBufferView): string;
}
