/*
 * Topic names and filters (MQTT 3.1.1, 4.7). Validators return the broken
 * rule as text, or undefined, so the decoder can report it without
 * throwing; the application-facing API turns that text into a TypeError.
 */
import { mqttStringProblem } from "utf8";

/** The rules a topic name and a filter share: an MQTT string, and not empty. */
function topicProblem(text: string, what: string): string | undefined {
	return mqttStringProblem(text, what) ?? (text.length === 0 ? `${what} must not be empty` : undefined);
}

/** A topic a PUBLISH may carry: non-empty, no wildcards, no U+0000, valid UTF-8, at most 65,535 bytes. */
export function validateTopicName(topic: string): string | undefined {
	return topicProblem(topic, "topic") ?? (/[#+]/.test(topic) ? `topic "${topic}" must not contain wildcards (+ or #)` : undefined);
}

/** A SUBSCRIBE filter: `+` fills a whole level, `#` is a whole last level. */
export function validateTopicFilter(filter: string): string | undefined {
	const problem = topicProblem(filter, "topic filter");
	if (problem) return problem;
	for (let i = 0; i < filter.length; i++) {
		const code = filter.charCodeAt(i);
		if (code === 0x2b /* + */) {
			if ((i > 0 && filter.charCodeAt(i - 1) !== 0x2f) || (i + 1 < filter.length && filter.charCodeAt(i + 1) !== 0x2f)) {
				return `topic filter "${filter}": + must occupy a whole level`;
			}
		} else if (code === 0x23 /* # */) {
			if (i + 1 !== filter.length) return `topic filter "${filter}": # must be the last character`;
			if (i > 0 && filter.charCodeAt(i - 1) !== 0x2f) return `topic filter "${filter}": # must occupy a whole level`;
		}
	}
	return undefined;
}

/**
 * Whether `topic` matches `filter`, walking both strings once without
 * splitting them. Wildcards at the first level do not match topics that
 * start with `$` (4.7.2).
 */
export function topicMatches(filter: string, topic: string): boolean {
	const filterLength = filter.length, topicLength = topic.length;
	if (topicLength > 0 && topic.charCodeAt(0) === 0x24 /* $ */) {
		const first = filter.charCodeAt(0);
		if (first === 0x2b || first === 0x23) return false;
	}
	let f = 0, t = 0;
	while (f < filterLength) {
		const code = filter.charCodeAt(f);
		if (code === 0x23 /* # */) return true;
		if (code === 0x2b /* + */) {
			while (t < topicLength && topic.charCodeAt(t) !== 0x2f) t++;
			f++;
		} else {
			if (t >= topicLength) {
				// "a/#" also matches "a": the parent level.
				return code === 0x2f && f + 2 === filterLength && filter.charCodeAt(f + 1) === 0x23;
			}
			if (topic.charCodeAt(t) !== code) return false;
			f++;
			t++;
		}
	}
	return t === topicLength;
}
