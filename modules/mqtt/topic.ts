/*
 * Topic names and filters (MQTT 3.1.1, 4.7). Validators return the broken
 * rule as text, or undefined, so the decoder can report it without
 * throwing; the application-facing API turns that text into a TypeError.
 */
import { utf8Length } from "mqtt/utf8";

export const maxTopicBytes = 65535;

/** A topic a PUBLISH may carry: non-empty, no wildcards, no U+0000, valid UTF-8, at most 65,535 bytes. */
export function validateTopicName(topic: string): string | undefined {
	if (typeof topic !== "string") return "topic must be a string";
	if (topic.length === 0) return "topic must not be empty";
	for (let i = 0; i < topic.length; i++) {
		const code = topic.charCodeAt(i);
		if (code === 0x23 /* # */ || code === 0x2b /* + */) return `topic "${topic}" must not contain wildcards (+ or #)`;
		if (code === 0) return "topic must not contain U+0000";
	}
	return checkLength(topic);
}

/** A SUBSCRIBE filter: `+` fills a whole level, `#` is a whole last level. */
export function validateTopicFilter(filter: string): string | undefined {
	if (typeof filter !== "string") return "topic filter must be a string";
	if (filter.length === 0) return "topic filter must not be empty";
	for (let i = 0; i < filter.length; i++) {
		const code = filter.charCodeAt(i);
		if (code === 0) return "topic filter must not contain U+0000";
		if (code === 0x2b /* + */) {
			if ((i > 0 && filter.charCodeAt(i - 1) !== 0x2f) || (i + 1 < filter.length && filter.charCodeAt(i + 1) !== 0x2f)) {
				return `topic filter "${filter}": + must occupy a whole level`;
			}
		} else if (code === 0x23 /* # */) {
			if (i + 1 !== filter.length) return `topic filter "${filter}": # must be the last character`;
			if (i > 0 && filter.charCodeAt(i - 1) !== 0x2f) return `topic filter "${filter}": # must occupy a whole level`;
		}
	}
	return checkLength(filter);
}

function checkLength(text: string): string | undefined {
	const length = utf8Length(text);
	if (length < 0) return "topic is not valid UTF-8 (lone surrogate)";
	if (length > maxTopicBytes) return `topic is ${length} bytes; at most ${maxTopicBytes} are allowed`;
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
