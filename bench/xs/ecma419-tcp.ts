/*
 * `embedded:io/socket/tcp` for the engine bench: the board's socket wrapper
 * (hosts/moddable/socket.ts) is loaded with its TCP import pointed here.
 */
export { BenchSocket as default } from "bench/xs/wire";
