// servers.mjs: the dashboard's Servers table (--peers, server/dashboard.h)
// in headless Chromium; run by servers.sh, which owns the tasq processes.
//
//	node servers.mjs URL OUTDIR SYNCDIR IDA IDB
//
// URL is server A's --metrics-listen base; A's --peers are A and B (IDA,
// IDB their identities). A holds 1 ready task of queue dq, B 2. The page
// must show the cluster's row (3 ready) and each server up with its
// identity; we then write SYNCDIR/seen, servers.sh kills B and writes
// SYNCDIR/killed, and the page must show B down with a reason and the
// cluster at 1 ready, while it keeps answering. Every wait polls under a
// deadline.
import path from 'node:path';
import fs from 'node:fs';
import { launch, logger, n, sec, until } from './common.mjs';

const [url, outDir, syncDir, idA, idB] = process.argv.slice(2);
if (!idB) {
	console.error('usage: node servers.mjs URL OUTDIR SYNCDIR IDA IDB');
	process.exit(2);
}
const log = logger('servers.mjs');

// The table's rows as arrays of cell texts.
const rows = (page) => page.$$eval('#servers tbody tr', (trs) =>
	trs.map((tr) => Array.from(tr.cells, (c) => c.textContent)));
// [cluster row, row of A, row of B] once all three are there.
async function table(page) {
	const r = await rows(page);
	const a = r.find((x) => x[0] === idA);
	const b = r.find((x) => x[0] === idB);
	return r.length === 3 && r[0][0] === 'cluster' && a && b ? [r[0], a, b] : null;
}

const browser = await launch();
const problems = [];
let page = null;
try {
	page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
	page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
	page.on('console', (m) => {
		if (m.type() === 'error') {
			problems.push(`console error: ${m.text()}`);
		}
	});
	await page.goto(`${url}/`);
	// Columns: server, url, state, ready, leased, jobs, completed,
	// failed, dead, workers, up.
	let t = await until('the cluster of A and B up, 3 ready', sec(20), async () => {
		const x = await table(page);
		return x && x[1][2] === 'up' && x[2][2] === 'up' && n(x[0][3]) === 3 &&
			n(x[1][3]) === 1 && n(x[2][3]) === 2 ? x : null;
	});
	log(`cluster ${JSON.stringify(t[0])}`);
	if (await page.$eval('#cluster', (e) => e.hidden)) {
		throw new Error('the Servers section is hidden');
	}
	fs.writeFileSync(path.join(syncDir, 'seen'), '');
	await until('servers.sh to kill B', sec(30),
		async () => fs.existsSync(path.join(syncDir, 'killed')));
	t = await until('B down with a reason, 1 ready', sec(20), async () => {
		const x = await table(page);
		return x && x[1][2] === 'up' && /^down: ./.test(x[2][2]) &&
			n(x[0][3]) === 1 ? x : null;
	});
	log(`B: ${t[2][2]}`);
	const shot = path.join(outDir, 'dashboard-servers.png');
	await page.screenshot({ path: shot, fullPage: true });
	log(`screenshot: ${shot}`);
	if (problems.length > 0) {
		throw new Error(problems.join('; '));
	}
} catch (e) {
	console.error(`FAIL: ${e.message}`);
	process.exitCode = 1;
	if (page) {
		await page.screenshot({ path: path.join(outDir, 'dashboard-servers-failed.png'), fullPage: true })
			.catch(() => {});
	}
} finally {
	await browser.close();
}
