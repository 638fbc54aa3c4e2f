/** One benchmark figure, and the statistics the benchmarks report them with. */
export interface Figure {
	name: string;
	value: number;
	unit: string;
	/** A ceiling the figure must stay at or under, where one is set. */
	target?: number;
	/** A floor the figure must reach, where one is set (ratios). */
	minimum?: number;
	/** What the figure is set against, when it is a comparison. */
	note?: string;
}

export function percentile(values: number[], p: number): number {
	const sorted = [...values].sort((a, b) => a - b);
	return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

export function median(values: number[]): number {
	return percentile(values, 0.5);
}

export function round(value: number, digits = 2): number {
	const scale = 10 ** digits;
	return Math.round(value * scale) / scale;
}

/** Whether a figure misses the ceiling or floor it was given. */
export function missed(figure: Figure): boolean {
	return (figure.target !== undefined && figure.value > figure.target) || (figure.minimum !== undefined && figure.value < figure.minimum);
}
