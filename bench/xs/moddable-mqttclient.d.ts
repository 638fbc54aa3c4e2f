// Moddable's ECMA-419 MQTT client (SDK examples/io/tcp/mqttclient), copied
// into the engine bench's module folder when an SDK is present.
declare module "moddable/mqttclient" {
	export interface MqttWriteOptions {
		topic?: string;
		QoS?: number;
		retain?: boolean;
		id?: number;
		operation?: number;
		items?: { topic: string; QoS?: number }[];
		byteLength?: number;
	}
	export default class MQTTClient {
		constructor(options: Record<string, unknown>);
		write(data: ArrayBufferLike | ArrayBufferView | null, options: MqttWriteOptions): number;
		read(count?: number): ArrayBuffer | undefined;
		close(): void;
		static readonly PUBLISH: number;
		static readonly SUBSCRIBE: number;
	}
}
