/*
 * The writable budget every simulated socket enforces, in one place: the
 * Node host's, the XS host simulator's and the tests' fake host's. As
 * Moddable's ECMA-419 sockets do on every host, a socket takes only as
 * many bytes as its last onWritable(count) announced; a write past that
 * throws "would block" and takes nothing, and write returns what is left.
 * When the budget comes back is each simulator's own (a turn of Node's
 * event loop, of the XS bridge, of the virtual clock). Simulators only: a
 * device's socket enforces its own, so this never ships in the firmware.
 */
export class WritableBudget {
	/** Bytes the socket takes until the next onWritable. */
	left = 0;

	/** onWritable(count): the socket takes `count` bytes now (its whole budget, not an increment). */
	grant(count: number): void {
		this.left = count;
	}

	/** A write: the bytes as a view, taken from the budget; "would block", nothing taken, past it. */
	take(bytes: ArrayBufferLike | ArrayBufferView): Uint8Array {
		const view = ArrayBuffer.isView(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : new Uint8Array(bytes);
		if (view.byteLength > this.left) throw new Error(`would block: ${view.byteLength} bytes written, ${this.left} announced`);
		this.left -= view.byteLength;
		return view;
	}
}
