// common.mjs: what the dashboard drivers (dashboard.mjs, servers.mjs)
// share: the time factor, polling under a deadline, numbers as the page
// prints them, the log line and Chromium.
import { chromium } from 'playwright-core';

// TASQ_TEST_TIMEOUT_FACTOR (sanitizer builds are slower); sec(n): n
// seconds scaled by it, in ms.
export const factor = Math.max(1, Number(process.env.TASQ_TEST_TIMEOUT_FACTOR) || 1);
export const sec = (n) => n * 1000 * factor;

// A number as the page prints it ("30,000", "12.5").
export const n = (t) => Number(String(t).replace(/,/g, ''));

// logger(name): log(msg) writes "HH:MM:SS.mmm name: msg" to stderr.
export function logger(name) {
	return (msg) => {
		const t = new Date().toISOString().slice(11, 23);
		console.error(`${t} ${name}: ${msg}`);
	};
}

// until(what, ms, f): polls async f every 100 ms until it returns a
// truthy value, which it returns; throws after ms.
export async function until(what, ms, f) {
	const deadline = Date.now() + ms;
	for (;;) {
		const v = await f();
		if (v) {
			return v;
		}
		if (Date.now() > deadline) {
			throw new Error(`timed out after ${ms} ms waiting for ${what}`);
		}
		await new Promise((r) => setTimeout(r, 100));
	}
}

// launch(): Debian's headless Chromium (no sandbox: the tests may run as
// root in a container).
export function launch() {
	return chromium.launch({
		executablePath: '/usr/bin/chromium',
		args: ['--no-sandbox'],
	});
}
