/*
 * The simulated board's flash for settings: a file when one is given (so
 * settings survive a restart of the simulator, as `preference` does on a
 * device), otherwise memory that lives as long as the board.
 */
import fs from "node:fs";

export class BoardFlash {
	readonly #file: string | undefined;
	#text: string | undefined;

	constructor(file?: string) {
		this.#file = file;
		if (file && fs.existsSync(file)) this.#text = fs.readFileSync(file, "utf8");
	}

	load(): string | undefined {
		return this.#text;
	}

	save(text: string): void {
		this.#text = text;
		if (this.#file) {
			// Written aside, then renamed: a crash mid-write leaves the old settings, not half of the new.
			fs.writeFileSync(`${this.#file}.tmp`, text);
			fs.renameSync(`${this.#file}.tmp`, this.#file);
		}
	}

	clear(): void {
		this.#text = undefined;
		if (this.#file) fs.rmSync(this.#file, { force: true });
	}
}
