/*
 * How the simulated board's Node sockets end: its outgoing connections and
 * the ones its listeners accept alike.
 */
import net from "node:net";
import tls from "node:tls";

/**
 * Ends a connection with a reset (RST, not FIN), as a power cut, a crashing
 * broker or a NAT box does. Node cannot reset every socket: resetAndDestroy()
 * waits forever on one still connecting, leaks a half-closed one's handle
 * (the process then never exits), and throws on TLS. Those get a plain destroy.
 */
export function resetSocket(socket: net.Socket): void {
	if (socket.destroyed) return;
	if (socket.connecting || socket.readableEnded || socket.writableEnded || socket instanceof tls.TLSSocket) socket.destroy();
	else socket.resetAndDestroy();
}

/** Ends a connection in order (FIN after what was written), and frees it if the peer never answers. */
export function endSocket(socket: net.Socket): void {
	socket.end();
	setTimeout(() => socket.destroy(), 1000).unref();
}
