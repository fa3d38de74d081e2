// dashboard.mjs: drives tasq-server's dashboard (server/dashboard.h) in
// headless Chromium; run by dashboard.sh, which owns the tasq processes.
//
//	node dashboard.mjs URL TASKS WORKERS OUTDIR SYNCDIR
//
// URL is the --metrics-listen base (http://127.0.0.1:PORT), TASKS the
// size of the batch dashboard.sh submits, WORKERS the worker processes
// it started. Screenshots go to OUTDIR. The handshake with dashboard.sh
// is files in SYNCDIR: we write "loaded" once the page shows the server,
// it writes "done" once its batch has ended; we write "restart" once the
// page has shown the end, it kills the server and starts a new one on the
// same ports and writes "restarted"; the page must then follow the new
// server (its counts start again) without showing a negative rate. Every
// wait polls a condition under a deadline; nothing sleeps to synchronise.
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const [url, tasksArg, workersArg, outDir, syncDir] = process.argv.slice(2);
if (!syncDir) {
	console.error('usage: node dashboard.mjs URL TASKS WORKERS OUTDIR SYNCDIR');
	process.exit(2);
}
const tasks = Number(tasksArg);
const workers = Number(workersArg);
const factor = Math.max(1, Number(process.env.TASQ_TEST_TIMEOUT_FACTOR) || 1);
const sec = (n) => n * 1000 * factor;

function log(msg) {
	const t = new Date().toISOString().slice(11, 23);
	console.error(`${t} dashboard.mjs: ${msg}`);
}

// until(what, ms, f): polls async f every 100 ms until it returns a
// truthy value; throws after ms.
async function until(what, ms, f) {
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

// The metrics listener starts just after the ready file is written.
await until(`${url}/healthz`, sec(15), async () => {
	try {
		return (await fetch(`${url}/healthz`)).ok;
	} catch {
		return false;
	}
});

const browser = await chromium.launch({
	executablePath: '/usr/bin/chromium',
	args: ['--no-sandbox'],
});
const problems = [];
let page = null;
// While the server is down for its restart, the page's polls fail: that
// is expected then, and only then.
let restarting = false;
const downError = /ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|ERR_CONNECTION_RESET|Failed to fetch/;
try {
	log(`chromium ${browser.version()}`);
	page = await browser.newPage({ viewport: { width: 1000, height: 640 } });
	page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
	page.on('console', (m) => {
		if (m.type() === 'error' && !(restarting && downError.test(m.text()))) {
			problems.push(`console error: ${m.text()} (${m.location().url})`);
		}
	});
	page.on('response', (r) => {
		if (r.status() >= 400) {
			problems.push(`HTTP ${r.status()}: ${r.url()}`);
		}
	});
	page.on('requestfailed', (r) => {
		const why = r.failure()?.errorText ?? '';
		if (!(restarting && downError.test(why))) {
			problems.push(`request failed: ${r.url()} ${why}`);
		}
	});

	const resp = await page.goto(url + '/', { timeout: sec(15) });
	if (!resp || resp.status() !== 200) {
		throw new Error(`GET / answered ${resp ? resp.status() : 'nothing'}`);
	}
	const title = await page.title();
	if (title !== 'tasq dashboard') {
		throw new Error(`title is "${title}", want "tasq dashboard"`);
	}
	// #meta says "connecting…" until the first /api/stats reply.
	await page.waitForFunction(
		(n) => /^server \S+, up \d+ s, (\d+) worker\(s\) connected$/
			.test(document.getElementById('meta').textContent) &&
			document.getElementById('meta').textContent
				.endsWith(`, ${n} worker(s) connected`),
		workers, { timeout: sec(20) });
	log(`page loaded: "${title}", meta "${await page.textContent('#meta')}"`);

	// Every refresh (tick() sets #rate, then #completed) as seen by the
	// page, so that no value in between two polls is missed.
	await page.evaluate(() => {
		window.tasqTicks = [];
		const c = document.getElementById('completed');
		new MutationObserver(() => window.tasqTicks.push({
			completed: Number(c.textContent),
			rate: Number(document.getElementById('rate').textContent),
		})).observe(c, { childList: true, characterData: true, subtree: true });
	});
	fs.writeFileSync(path.join(syncDir, 'loaded'), '');

	// Live: two different non-zero rates, three completed counts, the
	// default queue with work in it and a non-zero tasks/s of its own,
	// every worker connected, a chart line off the baseline, and the
	// batch not over yet. Queue cells: 0 name, 1 ready, 2 leased,
	// 3 results, 4 jobs, 5 dead, 6 submitted, 7 completed, 8 tasks/s.
	const live = await page.waitForFunction((want) => {
		const t = window.tasqTicks.filter((x) => x.completed > 0 && x.rate > 0);
		const rates = new Set(t.map((x) => x.rate));
		const done = new Set(t.map((x) => x.completed));
		const now = Number(document.getElementById('completed').textContent);
		if (now >= want.tasks) {
			return { over: true, ticks: window.tasqTicks };
		}
		const cells = (id) => [...document.querySelectorAll(`#${id} tbody tr`)]
			.map((tr) => [...tr.children].map((td) => td.textContent));
		const queues = cells('queues');
		const workers = cells('workers');
		const q = queues.find((r) => r[0] === 'default');
		const busy = q && (Number(q[1]) > 0 || Number(q[2]) > 0);
		const qrate = q ? Number(q[8]) : 0;
		const connected = workers.filter((r) => r[6] === 'yes').length;
		if (rates.size < 2 || done.size < 3 || !busy || !(qrate > 0) ||
		    connected < want.workers) {
			return false;
		}
		// The line is #36c; a rate of 0 is drawn 4 px above the bottom.
		const c = document.getElementById('chart');
		const img = c.getContext('2d').getImageData(0, 0, c.width, c.height - 8);
		let blue = 0;
		for (let i = 0; i < img.data.length; i += 4) {
			const [r, g, b] = img.data.slice(i, i + 3);
			if (b > 150 && r < 120 && g < 160 && img.data[i + 3] > 0) {
				blue++;
			}
		}
		if (blue === 0) {
			return false;
		}
		// One queue: its counts and rate are the server's, from the
		// same poll (read together, since one tick() wrote them all).
		const same = Number(q[7]) === now && qrate ===
			Number(document.getElementById('rate').textContent);
		return { over: false, ticks: t, queues, workers, blue, now, q, same };
	}, { tasks, workers }, { timeout: sec(30), polling: 200 });
	const v = await live.jsonValue();
	if (v.over) {
		throw new Error(`the batch of ${tasks} ended before the page had ` +
			`shown it running (ticks ${JSON.stringify(v.ticks)}): ` +
			'make it bigger (TASQ_DASHBOARD_TASKS) or the workers slower');
	}
	log('live: completed ' + v.ticks.map((x) => x.completed).join(' -> ') +
		', tasks/s ' + v.ticks.map((x) => x.rate).join(', '));
	log(`queues ${JSON.stringify(v.queues)}`);
	log(`default queue: submitted ${v.q[6]}, completed ${v.q[7]}, ` +
		`tasks/s ${v.q[8]}`);
	if (!v.same) {
		throw new Error('the default queue (completed, tasks/s) ' +
			`${v.q[7]}, ${v.q[8]} disagrees with the page's completed ` +
			`${v.now} and tasks/s (the only queue: they must be equal)`);
	}
	if (!(Number(v.q[6]) >= Number(v.q[7]))) {
		throw new Error(`the default queue shows submitted ${v.q[6]} ` +
			`below completed ${v.q[7]}`);
	}
	log(`workers ${JSON.stringify(v.workers)}`);
	log(`chart: ${v.blue} line pixels above the baseline`);

	const running = path.join(outDir, 'dashboard.png');
	await page.screenshot({ path: running, fullPage: true });
	log(`screenshot while running (completed ${v.now} of ${tasks}): ${running}`);

	await until('dashboard.sh to report the batch done', sec(120),
		async () => fs.existsSync(path.join(syncDir, 'done')));
	await page.waitForFunction(
		(n) => Number(document.getElementById('completed').textContent) === n,
		tasks, { timeout: sec(10) }).catch(async () => {
		throw new Error('the page shows completed ' +
			`${await page.textContent('#completed')}, want ${tasks}`);
	});
	// The same tick filled the queues: submitted and completed are the
	// batch's, each task counted once.
	const qrow = await page.$$eval('#queues tbody tr', (rows) => rows
		.map((r) => [...r.cells].map((c) => c.textContent))
		.find((r) => r[0] === 'default'));
	if (!qrow || Number(qrow[6]) !== tasks || Number(qrow[7]) !== tasks) {
		throw new Error(`the default queue after the batch: ` +
			`${JSON.stringify(qrow)}, want submitted and completed ${tasks}`);
	}
	log(`default queue after the batch: submitted ${qrow[6]}, ` +
		`completed ${qrow[7]}, tasks/s ${qrow[8]}`);
	// Idle workers: the "idle ms" column (the server's clock minus the
	// worker's last request) is above zero for every worker.
	await page.waitForFunction((n) => {
		const rows = [...document.querySelectorAll('#workers tbody tr')];
		return rows.length === n && rows.every((r) =>
			Number(r.cells[5].textContent) > 0);
	}, workers, { timeout: sec(10), polling: 200 }).catch(async () => {
		throw new Error('workers not shown idle after the batch: ' +
			await page.textContent('#workers tbody'));
	});
	log('idle ms after the batch: ' + (await page.$$eval(
		'#workers tbody tr', (rows) => rows.map((r) => r.cells[5].textContent)))
		.join(', '));
	const end = path.join(outDir, 'dashboard-done.png');
	await page.screenshot({ path: end, fullPage: true });
	log(`completed ${tasks} on the page; screenshot after the batch: ${end}`);

	// A server restart: its counters start again from 0 (no --data-dir),
	// so the page's next difference is negative, and must show as 0.
	restarting = true;
	fs.writeFileSync(path.join(syncDir, 'restart'), '');
	await until('dashboard.sh to restart the server', sec(60),
		async () => fs.existsSync(path.join(syncDir, 'restarted')));
	await page.waitForFunction(
		(n) => Number(document.getElementById('completed').textContent) < n &&
			/worker\(s\) connected/.test(document.getElementById('meta')
				.textContent),
		tasks, { timeout: sec(30), polling: 200 }).catch(async () => {
		throw new Error('the page did not follow the restarted server: ' +
			`completed ${await page.textContent('#completed')}`);
	});
	// Two more polls of the new server, then every rate the page drew
	// (the chart's history) and shows must be 0 or more.
	const ticks0 = await page.evaluate(() => hist.length);
	await page.waitForFunction((t) => hist.length >= t + 2, ticks0,
		{ timeout: sec(10), polling: 200 });
	restarting = false;
	const after = await page.evaluate(() => ({
		min: Math.min(...hist),
		rate: Number(document.getElementById('rate').textContent),
		completed: Number(document.getElementById('completed').textContent),
		queue: [...document.querySelectorAll('#queues tbody tr')]
			.map((r) => [...r.cells].map((c) => c.textContent)),
	}));
	log(`after the restart: completed ${after.completed}, tasks/s ` +
		`${after.rate}, lowest rate in the chart ${after.min}, queues ` +
		JSON.stringify(after.queue));
	if (!(after.min >= 0) || !(after.rate >= 0) ||
		after.queue.some((r) => !(Number(r[8]) >= 0))) {
		throw new Error('a negative rate after the restart: ' +
			JSON.stringify(after));
	}

	if (problems.length > 0) {
		throw new Error(`the page had problems:\n  ${problems.join('\n  ')}`);
	}
} catch (e) {
	console.error(`FAIL: ${e.message}`);
	for (const p of problems) {
		console.error(`  ${p}`);
	}
	process.exitCode = 1;
	if (page) {
		const shot = path.join(outDir, 'dashboard-failed.png');
		await page.screenshot({ path: shot, fullPage: true })
			.then(() => console.error(`screenshot of the failure: ${shot}`))
			.catch(() => {});
	}
} finally {
	await browser.close();
}
