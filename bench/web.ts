/*
 * The web page's size: what the device stores and sends (gzip), against
 * its budget, and the HTML it expands to.
 */
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { Figure } from "./figures.js";
import { projectRoot } from "../hosts/xsnap/paths.js";

/** The page must fit one lwIP send buffer (5,744 bytes) with room to spare, and the flash cheaply. */
export const pageBudget = 4096;

export async function webFigures(record: (figure: Figure) => void): Promise<void> {
	const { buildPage } = await import(pathToFileURL(path.join(projectRoot, "scripts", "build-page.mjs")).href) as { buildPage(): { html: string; gzip: Uint8Array } };
	const { html, gzip } = buildPage();
	record({ name: "web: the page, gzipped, as stored and sent", value: gzip.length, unit: "bytes", target: pageBudget });
	record({ name: "web: the page's HTML, CSS and JS, minified", value: Buffer.byteLength(html), unit: "bytes" });
}
