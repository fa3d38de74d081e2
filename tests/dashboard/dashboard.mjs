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
// Before the page loads dashboard.sh has run a job with 2 overflowing
// squares (failed), a job of queue "mail" whose 2 tasks failed twice
// (retried, then dead letters with the reason "connection-refused") and
// a task of queue "idle" that no worker serves (its latency grows). The
// page shows numbers with thousands separators (n() reads them back).
import fs from 'node:fs';
import path from 'node:path';
import { launch, logger, n, sec, until } from './common.mjs';

const [url, tasksArg, workersArg, outDir, syncDir] = process.argv.slice(2);
if (!syncDir) {
	console.error('usage: node dashboard.mjs URL TASKS WORKERS OUTDIR SYNCDIR');
	process.exit(2);
}
const tasks = Number(tasksArg);
const workers = Number(workersArg);
const log = logger('dashboard.mjs');

// The metrics listener starts just after the ready file is written.
await until(`${url}/healthz`, sec(15), async () => {
	try {
		return (await fetch(`${url}/healthz`)).ok;
	} catch {
		return false;
	}
});

const browser = await launch();
const problems = [];
let page = null;
// While the server is down for its restart, the page's polls fail: that
// is expected then, and only then.
let restarting = false;
// While the page uses a wrong key on purpose, its action is refused with
// 401: expected then, and only then.
let expect401 = false;
let seen401 = 0;
// Every POST the page sends (its actions).
const posts = [];
const downError = /ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|ERR_CONNECTION_RESET|Failed to fetch/;
try {
	log(`chromium ${browser.version()}`);
	page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
	page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
	page.on('console', (m) => {
		// Chromium logs the expected 401 (maybe late, maybe twice).
		const refused = seen401 > 0 && / 401 \(Unauthorized\)/.test(m.text()) &&
			/\/api\/jobs\/[0-9a-f]{16}\/retry$/.test(m.location().url);
		if (m.type() === 'error' && !refused &&
			!(restarting && downError.test(m.text()))) {
			problems.push(`console error: ${m.text()} (${m.location().url})`);
		}
	});
	page.on('response', (r) => {
		if (expect401 && r.status() === 401) {
			seen401++;
		} else if (r.status() >= 400) {
			problems.push(`HTTP ${r.status()}: ${r.url()}`);
		}
	});
	page.on('request', (r) => {
		if (r.method() === 'POST') {
			posts.push(r.url());
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
	// #meta says "connecting…" until the first /api/stats reply; the
	// uptime is a human duration ("up 5 s", "up 2 m 5 s").
	await page.waitForFunction(
		(n) => /^server \S+, up \d+ (ms|s|m|h|d)( \d+ [smhd])?, (\d+) worker\(s\) connected$/
			.test(document.getElementById('meta').textContent) &&
			document.getElementById('meta').textContent
				.endsWith(`, ${n} worker(s) connected`),
		workers, { timeout: sec(20) });
	log(`page loaded: "${title}", meta "${await page.textContent('#meta')}"`);

	// The JSON endpoints the page reads, and /metrics, with the jobs
	// dashboard.sh ran before: failures, retries, dead letters with
	// their reason and payload, the idle queue's latency.
	const api = async (p) => {
		const r = await fetch(url + p);
		if (!r.ok) {
			throw new Error(`GET ${p}: HTTP ${r.status}`);
		}
		return p === '/metrics' ? r.text() : r.json();
	};
	const st0 = await api('/api/stats');
	const base = st0.counters.tasks_completed;
	const baseDefault = (st0.queues.find((q) => q.name === 'default') || {})
		.submitted || 0;
	if (st0.counters.tasks_failed !== 4 || st0.counters.tasks_retried !== 2 ||
		st0.dead_total !== 2) {
		throw new Error('/api/stats before the batch: failed ' +
			`${st0.counters.tasks_failed} (want 4), retried ` +
			`${st0.counters.tasks_retried} (want 2), dead ${st0.dead_total} ` +
			'(want 2)');
	}
	// The same per queue: the 2 squares that overflowed in default, the
	// 2 dead letters after 2 retries in mail; in /api/stats and /metrics.
	const qfr = (q) => {
		const x = st0.queues.find((y) => y.name === q) || {};
		return `${x.failed}/${x.retried}`;
	};
	if (qfr('default') !== '2/0' || qfr('mail') !== '2/2' ||
		qfr('idle') !== '0/0') {
		throw new Error('/api/stats before the batch: queues failed/retried ' +
			`default ${qfr('default')} (want 2/0), mail ${qfr('mail')} ` +
			`(want 2/2), idle ${qfr('idle')} (want 0/0)`);
	}
	const m0 = await api('/metrics');
	for (const [name, want] of [
		['tasq_queue_tasks_failed_total{queue="default"}', 2],
		['tasq_queue_tasks_retried_total{queue="default"}', 0],
		['tasq_queue_tasks_failed_total{queue="mail"}', 2],
		['tasq_queue_tasks_retried_total{queue="mail"}', 2]]) {
		const line = m0.split('\n').find((l) => l.startsWith(name + ' '));
		if (line !== `${name} ${want}`) {
			throw new Error(`/metrics: ${line || 'no ' + name}, want ${want}`);
		}
	}
	log(`per queue failed/retried: default ${qfr('default')}, mail ` +
		`${qfr('mail')}`);
	// Per worker (summed by queue): the default workers handed in the 2
	// overflows, the session's worker (100, queue mail) both failures.
	const wfr = (q) => {
		const ws = st0.workers.filter((y) => y.queue === q);
		return `${ws.reduce((a, y) => a + y.failed, 0)}/` +
			`${ws.reduce((a, y) => a + y.retried, 0)}`;
	};
	if (wfr('default') !== '2/0' || wfr('mail') !== '2/2') {
		throw new Error('/api/stats before the batch: workers failed/retried ' +
			`default ${wfr('default')} (want 2/0), mail ${wfr('mail')} ` +
			'(want 2/2)');
	}
	const dead = await api('/api/dead');
	const reasons = dead.letters.map((d) =>
		`${d.queue}/${d.type} ${d.code_name} ${d.error} ${d.payload} ${d.attempts}`);
	if (dead.total !== 2 || dead.letters.length !== 2 ||
		!dead.letters.every((d) => d.queue === 'mail' && d.type === 'send' &&
			d.attempts === 2 && d.code_name === 'UNAVAILABLE' &&
			d.error === 'connection-refused' && d.age_ms >= 0) ||
		JSON.stringify(dead.letters.map((d) => d.payload).sort()) !==
			'["alice@example.com","bob@example.com"]') {
		throw new Error(`/api/dead: ${JSON.stringify(dead)}`);
	}
	log(`/api/dead: ${reasons.join('; ')}`);
	// The idle queue's task waits: its latency grows past 1 s.
	const idle = await until('the idle queue\'s latency to pass 1 s', sec(10),
		async () => {
			const r = await api('/api/rates');
			const q = r.queues.find((x) => x.name === 'idle');
			return q && q.latency_ms >= 1000 ? { r, q } : false;
		});
	const idleType = idle.r.types.find((t) => t.queue === 'idle');
	if (!idleType || idleType.type !== 'report' || idleType.ready !== 1 ||
		idleType.workers !== 0) {
		throw new Error(`/api/rates types: ${JSON.stringify(idle.r.types)}`);
	}
	if (!(idle.r.now.latency_ms >= idle.q.latency_ms - 1000)) {
		throw new Error(`/api/rates now: ${JSON.stringify(idle.r.now)}`);
	}
	const metrics = await api('/metrics');
	const lat = /^tasq_queue_latency_seconds\{queue="idle"\} ([0-9.]+)$/m
		.exec(metrics);
	if (!lat || !(Number(lat[1]) >= 1)) {
		throw new Error('/metrics: no tasq_queue_latency_seconds of the ' +
			`idle queue at 1 s or more (${lat ? lat[0] : 'none'})`);
	}
	log(`latency of the idle queue: ${idle.q.latency_ms} ms; ${lat[0]}`);

	// The page shows them: counts in the cards, the dead letters'
	// reason, payload and age, the idle queue's latency and its type
	// nobody serves. Dead cells: 0 age, 1 queue, 2 type, 3 job, 4 task,
	// 5 attempts, 6 code, 7 reason, 8 payload.
	await page.waitForFunction(() => {
		const t = (id) => document.getElementById(id).textContent;
		const rows = [...document.querySelectorAll('#dead tbody tr')]
			.map((tr) => [...tr.cells].map((c) => c.textContent));
		const q = [...document.querySelectorAll('#queues tbody tr')]
			.map((tr) => [...tr.cells].map((c) => c.textContent))
			.find((r) => r[0] === 'idle');
		const ty = [...document.querySelectorAll('#types tbody tr')]
			.map((tr) => [...tr.cells].map((c) => c.textContent))
			.find((r) => r[0] === 'idle');
		return t('failed') === '4' && t('retried') === '2' &&
			t('deadtotal') === '2' && rows.length === 2 &&
			rows.every((r) => r[1] === 'mail' && r[2] === 'send' &&
				r[5] === '2' && r[6] === 'UNAVAILABLE' &&
				r[7] === 'connection-refused' &&
				/^(now|\d+ (ms|s|m)( \d+ s)? ago)$/.test(r[0])) &&
			rows.some((r) => r[8].startsWith('alice@example.com')) &&
			q && /^\d+ (s|m)( \d+ s)?$/.test(q[9]) &&
			ty && ty[1] === 'report' && ty[4] === '0';
	}, null, { timeout: sec(10), polling: 200 }).catch(async () => {
		throw new Error('the page does not show the failures, dead ' +
			'letters and latency: cards ' +
			await page.textContent('#cards') + '; dead ' +
			await page.textContent('#dead tbody') + '; queues ' +
			await page.textContent('#queues tbody') + '; types ' +
			await page.textContent('#types tbody'));
	});
	// Per queue, after latency: 10 failed, 11 failed/s, 12 retried,
	// 13 retried/s (the rates 0 once the failures are past).
	await page.waitForFunction(() => {
		const rows = [...document.querySelectorAll('#queues tbody tr')]
			.map((tr) => [...tr.cells].map((c) => c.textContent));
		const fr = (q) => {
			const r = rows.find((x) => x[0] === q);
			return r ? [r[10], r[12]].join('/') : '';
		};
		const mail = rows.find((x) => x[0] === 'mail');
		return fr('default') === '2/0' && fr('mail') === '2/2' &&
			fr('idle') === '0/0' && mail.length === 14 &&
			/^\d+(\.\d)?$/.test(mail[11]) && /^\d+(\.\d)?$/.test(mail[13]);
	}, null, { timeout: sec(10), polling: 200 }).catch(async () => {
		throw new Error('the queue table does not show failed 2/retried 0 ' +
			'(default) and 2/2 (mail) with their rates: ' +
			await page.textContent('#queues tbody'));
	});
	// Per worker, after tasks/s: 8 failed, 9 failed/s, 10 retried,
	// 11 retried/s; summed over the rows of each queue.
	await page.waitForFunction(() => {
		const rows = [...document.querySelectorAll('#workers tbody tr')]
			.map((tr) => [...tr.cells].map((c) => c.textContent));
		const n = (s) => Number(s.replace(/,/g, ''));
		const fr = (q) => {
			const rs = rows.filter((x) => x[1] === q);
			return `${rs.reduce((a, x) => a + n(x[8]), 0)}/` +
				`${rs.reduce((a, x) => a + n(x[10]), 0)}`;
		};
		return rows.length > 0 && fr('default') === '2/0' &&
			fr('mail') === '2/2' && rows.every((x) => x.length === 12 &&
			/^\d+(\.\d)?$/.test(x[9]) && /^\d+(\.\d)?$/.test(x[11]));
	}, null, { timeout: sec(10), polling: 200 }).catch(async () => {
		throw new Error('the worker table does not show failed 2/retried 0 ' +
			'(default) and 2/2 (mail) with their rates: ' +
			await page.textContent('#workers tbody'));
	});
	log('page: ' + (await page.textContent('#cards')).replace(/\s+/g, ' '));

	// The job list. Job cells: 0 job, 1 queue, 2 type, 3 state,
	// 4 progress, 5 submitted, 6 done, 7 failed, 8 dead, 9 age, 10 host,
	// 11 actions. dashboard.sh left the slow job 1 of 4 done (running, no
	// worker for the rest) and the mail job (78) with 2 dead letters.
	const slowJob = fs.readFileSync(path.join(syncDir, 'slowjob'), 'utf8')
		.trim();
	const mailJob = (78).toString(16).padStart(16, '0');
	const jobRow = (id) => page.$$eval('#jobs tbody tr', (rows, id) => {
		const r = rows.find((x) => x.cells[0].textContent === id);
		return r ? {
			cells: [...r.cells].map((c) => c.textContent),
			bar: r.querySelector('.bar i')?.style.width,
			buttons: [...r.querySelectorAll('button')].map((b) => b.textContent),
		} : null;
	}, id);
	const t = (id) => page.textContent(`#${id}`);
	await until('the job list to show the slow job at 25 % and the mail ' +
		'job\'s dead letters', sec(10), async () => {
		const s = await jobRow(slowJob);
		const m = await jobRow(mailJob);
		return s && m && s.cells[1] === 'slow' && s.cells[2] === 'nap' &&
			s.cells[3] === 'running (no worker)' && s.cells[4] === '25%' &&
			s.bar === '25%' && s.cells[5] === '4' && s.cells[6] === '1' &&
			s.cells[7] === '0' && s.buttons.join() === 'cancel' &&
			m.cells[1] === 'mail' && m.cells[7] === '2' &&
			m.cells[8] === '2' && m.buttons.join() === 'retry,cancel';
	}).catch(async (e) => {
		throw new Error(`${e.message}: ${await page.textContent('#jobs tbody')}`);
	});
	log(`jobs: slow ${JSON.stringify((await jobRow(slowJob)).cells)}, ` +
		`mail ${JSON.stringify((await jobRow(mailJob)).cells)}`);
	const jobs0 = await api('/api/jobs');
	const sj = jobs0.jobs.find((j) => j.job === slowJob);
	if (!sj || sj.state !== 'running' || sj.completed !== 1 ||
		!sj.no_worker || !(Math.abs(jobs0.now_ms - Date.now()) < 60000)) {
		throw new Error(`/api/jobs: ${JSON.stringify(jobs0)}`);
	}
	// A button pressed on the row of a job (the table is redrawn every
	// second: the click finds the row again).
	const press = (id, what) =>
		page.click(`#jobs tbody tr[data-job="${id}"] button[data-act="${what}"]`,
			{ timeout: sec(5) });
	const waitMsg = (re, what) => page.waitForFunction(
		(src) => new RegExp(src).test(document.getElementById('actmsg')
			.textContent), re.source, { timeout: sec(10), polling: 100 })
		.catch(async () => {
			throw new Error(`${what}: the page says "${await t('actmsg')}"`);
		});
	// Without the key the buttons refuse: they send nothing and ask for it.
	for (const [id, what] of [[mailJob, 'retry'], [slowJob, 'cancel']]) {
		await press(id, what);
		await waitMsg(new RegExp(`the ${what} button needs the shared key`),
			`${what} without the key`);
		if (await page.isHidden('#keyform')) {
			throw new Error(`${what} without the key: no key form shown`);
		}
		await page.click('#keycancel');
		await page.evaluate(() => say(''));
	}
	if (posts.length !== 0 || (await api('/api/dead')).total !== 2) {
		throw new Error(`without the key: POSTs ${JSON.stringify(posts)}, ` +
			`dead letters ${(await api('/api/dead')).total} (want 2)`);
	}
	log('without the key: the buttons sent nothing and asked for the key');
	// A wrong key: signed, refused by the server (401), and forgotten.
	const useKey = async (k) => {
		await page.click('#unlock');
		await page.fill('#keyin', k);
		await page.click('#keyuse');
		await page.waitForFunction(() => /^actions on \(key [0-9a-f]{8}\)$/
			.test(document.getElementById('keystate').textContent), null,
		{ timeout: sec(5) });
	};
	expect401 = true;
	await useKey('not-the-key-but-long-enough');
	await press(mailJob, 'retry');
	await waitMsg(/retry of job \S+ refused \(HTTP 401\): unknown key id/,
		'retry with a wrong key');
	await page.waitForFunction(() =>
		document.getElementById('keystate').textContent === 'read-only',
	null, { timeout: sec(5) });
	expect401 = false;
	if (posts.length !== 1 || (await api('/api/dead')).total !== 2) {
		throw new Error(`with a wrong key: POSTs ${JSON.stringify(posts)}, ` +
			`dead letters ${(await api('/api/dead')).total} (want 2)`);
	}
	log(`a wrong key: "${await t('actmsg')}"; the page forgot it`);
	// The key: its id as the page computes it is the server's (PROTOCOL
	// 4.2), and retry re-queues the mail job's 2 dead letters.
	const key = fs.readFileSync(path.join(syncDir, 'key'), 'utf8')
		.replace(/[ \t\r\n]+$/, '');
	await useKey(key);
	const kid = (await import('node:crypto')).createHash('sha256')
		.update(Buffer.concat([Buffer.from('tasq-key-id\0'), Buffer.from(key)]))
		.digest('hex').slice(0, 8);
	if (await t('keystate') !== `actions on (key ${kid})`) {
		throw new Error(`the page's key id: ${await t('keystate')}, want ${kid}`);
	}
	await press(mailJob, 'retry');
	await waitMsg(/^job 0+4e: 2 dead letter\(s\) retried as job [0-9a-f]{16}$/,
		'retry with the key');
	const retriedAs = (await t('actmsg')).split(' ').pop();
	const jobs1 = await api('/api/jobs');
	const nj = jobs1.jobs.find((j) => j.job === retriedAs);
	if ((await api('/api/dead')).total !== 0 || !nj || nj.queue !== 'mail' ||
		nj.type !== 'send' || nj.submitted !== 2 || !nj.detached) {
		throw new Error(`after retry: dead ${(await api('/api/dead')).total}, ` +
			`jobs ${JSON.stringify(jobs1.jobs)}`);
	}
	await until('the retried job on the page', sec(10), async () => {
		const r = await jobRow(retriedAs);
		const m = await jobRow(mailJob);
		return r && r.cells[1] === 'mail' && r.cells[5] === '2' &&
			m && m.cells[8] === '0' && m.buttons.join() === 'cancel';
	});
	log(`with the key: "${await t('actmsg')}"`);
	// Cancel asks first: dismissed, nothing is sent; accepted, the slow
	// job is cancelled (its 3 queued tasks dropped: the Cancel RPC's
	// broker call) and shows so, without a cancel button.
	const posted = posts.length;
	let asked = '';
	page.once('dialog', (d) => {
		asked = d.message();
		d.dismiss();
	});
	await press(slowJob, 'cancel');
	await until('the cancel button to ask first', sec(5), async () => asked);
	await page.evaluate(() => 0); // the click's handler has returned
	if (posts.length !== posted || !asked.includes(slowJob)) {
		throw new Error(`a dismissed cancel ("${asked}"): POSTs ` +
			JSON.stringify(posts.slice(posted)));
	}
	page.once('dialog', (d) => d.accept());
	await press(slowJob, 'cancel');
	await waitMsg(new RegExp(`^job ${slowJob} cancelled: 3 queued task\\(s\\) ` +
		'dropped, 0 running task\\(s\\) told to stop$'), 'cancel with the key');
	await until('the cancelled job on the page', sec(10), async () => {
		const r = await jobRow(slowJob);
		return r && r.cells[3] === 'cancelled' && r.buttons.length === 0;
	}).catch(async (e) => {
		throw new Error(`${e.message}: ${JSON.stringify(await jobRow(slowJob))}`);
	});
	const sj2 = (await api('/api/jobs')).jobs.find((j) => j.job === slowJob);
	if (!sj2 || sj2.state !== 'cancelled' || sj2.completed !== 1) {
		throw new Error(`/api/jobs after cancel: ${JSON.stringify(sj2)}`);
	}
	log(`cancel: "${await t('actmsg')}"; the row: ` +
		JSON.stringify((await jobRow(slowJob)).cells));
	// The key is in no storage the page has: not localStorage,
	// sessionStorage, a cookie, the URL or the document.
	const kept = await page.evaluate((k) => ({
		local: localStorage.length, session: sessionStorage.length,
		cookie: document.cookie, url: location.href.includes(k),
		doc: document.documentElement.outerHTML.includes(k),
		input: document.getElementById('keyin').value,
	}), key);
	if (kept.local || kept.session || kept.cookie || kept.url || kept.doc ||
		kept.input) {
		throw new Error(`the key was kept: ${JSON.stringify(kept)}`);
	}
	// Every refresh (tick() sets #rate, then #completed) as seen by the
	// page, so that no value in between two polls is missed.
	await page.evaluate(() => {
		window.tasqTicks = [];
		const c = document.getElementById('completed');
		const n = (t) => Number(String(t).replace(/,/g, ''));
		new MutationObserver(() => window.tasqTicks.push({
			completed: n(c.textContent),
			rate: n(document.getElementById('rate').textContent),
		})).observe(c, { childList: true, characterData: true, subtree: true });
	});
	fs.writeFileSync(path.join(syncDir, 'loaded'), '');

	// Live: a non-zero rate (steady workers give the same rate at every
	// refresh, so two different ones cannot be asked for), three
	// completed counts (the page refreshing), the
	// default queue with work in it and a non-zero tasks/s of its own,
	// every worker connected, a chart line off the baseline, and the
	// batch not over yet, a rate on each worker. Queue cells: 0 name,
	// 1 ready, 2 leased, 3 results, 4 jobs, 5 dead, 6 submitted,
	// 7 completed, 8 tasks/s, 9 latency (then 10 failed, 11 failed/s,
	// 12 retried, 13 retried/s). Worker cells: 0 name, 1 queue,
	// 2 leases, 3 tasks in hand, 4 completed, 5 last seen, 6 connected,
	// 7 tasks/s (then 8 failed, 9 failed/s, 10 retried, 11 retried/s).
	const live = await page.waitForFunction((want) => {
		const n = (t) => Number(String(t).replace(/,/g, ''));
		const t = window.tasqTicks.filter((x) => x.completed > want.base &&
			x.rate > 0);
		const rates = new Set(t.map((x) => x.rate));
		const done = new Set(t.map((x) => x.completed));
		const now = n(document.getElementById('completed').textContent);
		if (now >= want.base + want.tasks) {
			return { over: true, ticks: window.tasqTicks };
		}
		const cells = (id) => [...document.querySelectorAll(`#${id} tbody tr`)]
			.map((tr) => [...tr.children].map((td) => td.textContent));
		const queues = cells('queues');
		const workers = cells('workers');
		const q = queues.find((r) => r[0] === 'default');
		const busy = q && (n(q[1]) > 0 || n(q[2]) > 0);
		const qrate = q ? n(q[8]) : 0;
		const connected = workers.filter((r) => r[6] === 'yes').length;
		const wrates = workers.filter((r) => r[6] === 'yes' && n(r[7]) > 0);
		if (rates.size < 1 || done.size < 3 || !busy || !(qrate > 0) ||
		    connected < want.workers || wrates.length < want.workers) {
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
		// The queues' counts and rates are the server's, from the same
		// poll (read together, since one tick() wrote them all): only
		// the default queue moves, so its rate is the server's, and the
		// queues' completed add up to the server's.
		const sum = queues.reduce((a, r) => a + n(r[7]), 0);
		const same = sum === now && qrate ===
			n(document.getElementById('rate').textContent);
		return { over: false, ticks: t, queues, workers, blue, now, q, same };
	}, { tasks, workers, base }, { timeout: sec(30), polling: 200 });
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
		throw new Error('the queues (completed, tasks/s) ' +
			`${JSON.stringify(v.queues)} disagree with the page's ` +
			`completed ${v.now} and tasks/s (the only busy queue: they ` +
			'must be equal)');
	}
	if (!(n(v.q[6]) >= n(v.q[7]))) {
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
		(want) => Number(document.getElementById('completed').textContent
			.replace(/,/g, '')) === want,
		base + tasks, { timeout: sec(10) }).catch(async () => {
		throw new Error('the page shows completed ' +
			`${await page.textContent('#completed')}, want ${base + tasks}`);
	});
	// The same tick filled the queues: submitted and completed are the
	// batch's, each task counted once.
	const qrow = await page.$$eval('#queues tbody tr', (rows) => rows
		.map((r) => [...r.cells].map((c) => c.textContent))
		.find((r) => r[0] === 'default'));
	const want = baseDefault + tasks;
	if (!qrow || n(qrow[6]) !== want || n(qrow[7]) !== want ||
		qrow[6] !== want.toLocaleString('en-US')) {
		throw new Error(`the default queue after the batch: ` +
			`${JSON.stringify(qrow)}, want submitted and completed ` +
			`${want.toLocaleString('en-US')}`);
	}
	log(`default queue after the batch: submitted ${qrow[6]}, ` +
		`completed ${qrow[7]}, tasks/s ${qrow[8]}`);
	// "last seen": a human time ("now", "3 s ago"), never a raw count
	// of milliseconds; every connected worker (the tasq_raw session's
	// row is a worker gone).
	await page.waitForFunction((want) => {
		const rows = [...document.querySelectorAll('#workers tbody tr')]
			.filter((r) => r.cells[6].textContent === 'yes');
		return rows.length === want && rows.every((r) =>
			/^(now|\d+ (ms|s|m)( \d+ s)? ago)$/.test(r.cells[5].textContent));
	}, workers, { timeout: sec(10), polling: 200 }).catch(async () => {
		throw new Error('workers\' last seen after the batch: ' +
			await page.textContent('#workers tbody'));
	});
	log('last seen after the batch: ' + (await page.$$eval(
		'#workers tbody tr', (rows) => rows.map((r) => r.cells[5].textContent)))
		.join(', '));

	// A reload: the chart is drawn at once from the server's history,
	// which holds the batch (one sample a second, completed/s above 0);
	// the key is forgotten.
	await page.reload({ timeout: sec(15) });
	if (await page.textContent('#keystate') !== 'read-only') {
		throw new Error('after a reload the page still has the key: ' +
			await page.textContent('#keystate'));
	}
	const reloaded = await page.waitForFunction(() => {
		if (typeof hist === 'undefined' || hist.length < 3) {
			return false;
		}
		const c = document.getElementById('chart');
		const img = c.getContext('2d').getImageData(0, 0, c.width, c.height);
		let blue = 0;
		for (let i = 0; i < img.data.length; i += 4) {
			const [r, g, b] = img.data.slice(i, i + 3);
			if (b > 150 && r < 120 && g < 160 && img.data[i + 3] > 0) {
				blue++;
			}
		}
		return hist.some((v) => v > 0) && blue > 0 ?
			{ n: hist.length, max: Math.max(...hist), blue } : false;
	}, null, { timeout: sec(10), polling: 100 }).catch(async () => {
		throw new Error('after a reload the chart has no history: ' +
			await page.evaluate(() => JSON.stringify(hist)));
	});
	const rv = await reloaded.jsonValue();
	log(`after a reload: ${rv.n} samples of history, peak ${rv.max} ` +
		`tasks/s, ${rv.blue} line pixels`);
	const hs = await api('/api/history');
	const ts = hs.samples.map((x) => x[0]);
	if (hs.interval_ms !== 1000 || hs.fields[0] !== 'completed' ||
		hs.samples.length < 3 || ts.some((t, i) => i > 0 && !(t > ts[i - 1])) ||
		hs.samples.some((x) => x.length !== hs.fields.length + 1) ||
		hs.samples.reduce((a, x) => a + x[1], 0) < tasks / 2) {
		throw new Error(`/api/history: ${JSON.stringify(hs).slice(0, 600)}`);
	}
	const end = path.join(outDir, 'dashboard-done.png');
	await page.screenshot({ path: end, fullPage: true });
	log(`completed ${base + tasks} on the page; screenshot after the batch: ${end}`);

	// A server restart: its counters start again from 0 (no --data-dir),
	// so the page's next difference is negative, and must show as 0.
	restarting = true;
	fs.writeFileSync(path.join(syncDir, 'restart'), '');
	await until('dashboard.sh to restart the server', sec(60),
		async () => fs.existsSync(path.join(syncDir, 'restarted')));
	await page.waitForFunction(
		(n) => Number(document.getElementById('completed').textContent
			.replace(/,/g, '')) < n &&
			/worker\(s\) connected/.test(document.getElementById('meta')
				.textContent),
		base + tasks, { timeout: sec(30), polling: 200 }).catch(async () => {
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
		rate: Number(document.getElementById('rate').textContent
			.replace(/,/g, '')),
		completed: Number(document.getElementById('completed').textContent
			.replace(/,/g, '')),
		queue: [...document.querySelectorAll('#queues tbody tr')]
			.map((r) => [...r.cells].map((c) => c.textContent)),
	}));
	log(`after the restart: completed ${after.completed}, tasks/s ` +
		`${after.rate}, lowest rate in the chart ${after.min}, queues ` +
		JSON.stringify(after.queue));
	if (!(after.min >= 0) || !(after.rate >= 0) ||
		after.queue.some((r) => !(n(r[8]) >= 0))) {
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
