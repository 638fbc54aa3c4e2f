/*
 * MQTT 3.1.1 control packets as plain objects: what the codec encodes and
 * decodes, and what the session state machine reads and writes. Field names
 * follow the specification (OASIS MQTT 3.1.1, section 3).
 */

export const enum PacketType {
	Connect = 1,
	Connack = 2,
	Publish = 3,
	Puback = 4,
	Pubrec = 5,
	Pubrel = 6,
	Pubcomp = 7,
	Subscribe = 8,
	Suback = 9,
	Unsubscribe = 10,
	Unsuback = 11,
	Pingreq = 12,
	Pingresp = 13,
	Disconnect = 14,
}

export type QoS = 0 | 1 | 2;

export interface Will {
	topic: string;
	payload: Uint8Array;
	qos: QoS;
	retain: boolean;
}

export interface ConnectPacket {
	type: PacketType.Connect;
	clientId: string;
	cleanSession: boolean;
	/** Seconds; 0 turns keepalive off. */
	keepalive: number;
	will?: Will;
	username?: string;
	password?: Uint8Array;
}

/** CONNACK return codes 0-5 (3.2.2.3). */
export const enum ConnackCode {
	Accepted = 0,
	UnacceptableProtocolVersion = 1,
	IdentifierRejected = 2,
	ServerUnavailable = 3,
	BadUsernameOrPassword = 4,
	NotAuthorized = 5,
}

export const connackCodeNames: readonly string[] = "accepted,unacceptable protocol version,identifier rejected,server unavailable,bad user name or password,not authorized".split(",");

export interface ConnackPacket {
	type: PacketType.Connack;
	sessionPresent: boolean;
	returnCode: number;
}

export interface PublishPacket {
	type: PacketType.Publish;
	topic: string;
	payload: Uint8Array;
	qos: QoS;
	retain: boolean;
	dup: boolean;
	/** Present when qos > 0. */
	packetId?: number;
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP and UNSUBACK: a packet id and nothing else. */
export interface AckPacket {
	type: PacketType.Puback | PacketType.Pubrec | PacketType.Pubrel | PacketType.Pubcomp | PacketType.Unsuback;
	packetId: number;
}

export interface Subscription {
	filter: string;
	qos: QoS;
}

export interface SubscribePacket {
	type: PacketType.Subscribe;
	packetId: number;
	subscriptions: Subscription[];
}

/** SUBACK return code for a refused subscription. */
export const SubackFailure = 0x80;

export interface SubackPacket {
	type: PacketType.Suback;
	packetId: number;
	/** Granted QoS 0-2 per filter, or 0x80 for a failure. */
	returnCodes: number[];
}

export interface UnsubscribePacket {
	type: PacketType.Unsubscribe;
	packetId: number;
	filters: string[];
}

export interface EmptyPacket {
	type: PacketType.Pingreq | PacketType.Pingresp | PacketType.Disconnect;
}

export type Packet =
	| ConnectPacket
	| ConnackPacket
	| PublishPacket
	| AckPacket
	| SubscribePacket
	| SubackPacket
	| UnsubscribePacket
	| EmptyPacket;
