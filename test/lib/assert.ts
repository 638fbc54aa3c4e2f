/*
 * A small assertion library for portable tests: the same test code runs on
 * Node and inside XS, which has no `node:assert`.
 */
export class AssertionError extends Error {
	override name = "AssertionError";
}

export function fail(message: string): never {
	throw new AssertionError(message);
}

export function ok(value: unknown, message = "expected a truthy value"): asserts value {
	if (!value) fail(message);
}

export function equal<T>(actual: T, expected: T, message?: string): void {
	if (!Object.is(actual, expected)) fail(`${message ? message + ": " : ""}expected ${show(expected)}, got ${show(actual)}`);
}

export function deepEqual(actual: unknown, expected: unknown, message?: string): void {
	const difference = differ(actual, expected, "");
	if (difference !== undefined) fail(`${message ? message + ": " : ""}${difference}`);
}

export function throws(action: () => unknown, pattern: RegExp, message?: string): void {
	let thrown: unknown;
	try {
		action();
	} catch (error) {
		thrown = error;
	}
	if (thrown === undefined) fail(`${message ? message + ": " : ""}expected an exception matching ${pattern}`);
	const text = thrown instanceof Error ? thrown.message : String(thrown);
	if (!pattern.test(text)) fail(`${message ? message + ": " : ""}exception "${text}" does not match ${pattern}`);
}

function differ(actual: unknown, expected: unknown, at: string): string | undefined {
	if (Object.is(actual, expected)) return undefined;
	if (actual instanceof Uint8Array && expected instanceof Uint8Array) {
		if (actual.length !== expected.length) return `${at || "value"}: length ${actual.length}, expected ${expected.length}`;
		for (let i = 0; i < actual.length; i++) {
			if (actual[i] !== expected[i]) return `${at || "value"}[${i}]: ${actual[i]}, expected ${expected[i]}`;
		}
		return undefined;
	}
	if (typeof actual !== "object" || typeof expected !== "object" || actual === null || expected === null) {
		return `${at || "value"}: expected ${show(expected)}, got ${show(actual)}`;
	}
	if (Array.isArray(actual) !== Array.isArray(expected)) return `${at || "value"}: array vs object`;
	const keys = new Set([...Object.keys(actual), ...Object.keys(expected)]);
	for (const key of keys) {
		const difference = differ((actual as Record<string, unknown>)[key], (expected as Record<string, unknown>)[key], at ? `${at}.${key}` : key);
		if (difference !== undefined) return difference;
	}
	return undefined;
}

function show(value: unknown): string {
	if (value instanceof Uint8Array) return `bytes[${Array.from(value).join(",")}]`;
	try {
		return JSON.stringify(value) ?? String(value);
	} catch {
		return String(value);
	}
}
