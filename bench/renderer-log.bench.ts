// Renderer log benchmark (run: `node --import tsx bench/renderer-log.bench.ts`).
// Real pipeline: `kiln serve` (job engine + API + WebSocket) → Debian chromium → React window.
// A stand-in esphome prints a 100k-line burst, pauses, then streams 5k lines/s. Measured in the
// page with the Performance APIs:
//   1. first paint of the log view of a 100k-line job (close the panel — which frees its lines —
//      and re-open it: click → first frame with rows on screen; it opens on the log's tail);
//   2. while 5k lines/s stream in: long tasks (PerformanceObserver 'longtask') and frame
//      intervals (requestAnimationFrame).
//   3. first paint from a fresh page load (navigation start → first contentful paint, and →
//      the task list on screen), in a new page;
//   4. memory released when logs are closed: renderer JS heap (after a forced GC, via CDP) at
//      the start, after 20 long logs (20k lines each, streamed live into the open log view) were
//      opened one after another, and after closing the last one — closing must give the lines
//      back (before `dropLog` was wired, every opened log's lines stayed for good).
// Targets: first paint ≤ 200 ms; no long task over 50 ms while streaming; the heap after closing
// within 10 % (or 2 MB) of the heap before opening. With --quick (KILN_BENCH_QUICK=1) the logs
// are shorter and the stream briefer. A missed target is reported, not an error exit (exit 0).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { openClient } from '../main/headless/test/ws-client';
import { waitUntil } from '../test/support/wait-until';
import { build } from 'vite';

const ROOT = resolve(import.meta.dirname, '..');
// Conditions read the page over CDP: polling them every 50 ms (not waitUntil's default 10 ms)
// keeps the measuring out of the renderer that is being measured.
const POLL_MS = 50;
const QUICK = process.env.KILN_BENCH_QUICK === '1' || process.argv.includes('--quick');
const BURST = Number(process.env.BENCH_BURST ?? (QUICK ? 10_000 : 100_000));
const STREAM_MS = Number(process.env.BENCH_STREAM_MS ?? (QUICK ? 2000 : 8000));
const RATE = Number(process.env.BENCH_RATE ?? 5000);
const LOGS = QUICK ? 5 : 20;
/** Lines each memory-test job streams while its log is open (the backend keeps only a finished job's tail). */
const LONG_LOG = QUICK ? 2_500 : 20_000;
const LONG_LOG_MS = QUICK ? 500 : 2000;

async function main(): Promise<number> {
  await build({ configFile: join(ROOT, 'renderer/vite.config.ts'), logLevel: 'warn' });
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-'));
  const configDir = join(dir, 'config');
  mkdirSync(configDir);
  writeFileSync(join(configDir, 'bench.yaml'), 'esphome:\n  name: bench\nesp32:\n  board: esp32dev\n');
  const serve = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'main/headless/cli/kiln.ts'), 'serve', '--config-dir', configDir, '--port', '0', '--no-peer-link', '--esphome', join(ROOT, 'bench/fixtures/spew-esphome.mjs')],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BENCH_BURST: String(BURST), BENCH_PAUSE_MS: QUICK ? '1500' : '6000', BENCH_RATE: String(RATE), BENCH_STREAM_MS: String(STREAM_MS) } },
  );
  let out = '';
  serve.stdout.on('data', (d) => (out += d));
  serve.stderr.on('data', (d) => (out += d));
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const url = await waitUntil(() => /KILN_SERVE_URL=(\S+)/.exec(out)?.[1], { timeoutMs: 30_000, stepMs: POLL_MS, what: 'kiln serve' });
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(url);
    await page.getByTestId('compile').click();
    const logLines = () => page.getByTestId('log-view').getAttribute('data-lines').then((v) => Number(v ?? 0));
    const t0 = Date.now();
    await waitUntil(async () => (await logLines()) >= BURST, { timeoutMs: 120_000, stepMs: POLL_MS, what: `${BURST} lines in the log view` });
    const burstMs = Date.now() - t0;

    // 1. First paint of the 100k-line log view: close it, re-open it from the task list.
    await page.getByRole('button', { name: 'Close log' }).click();
    await page.getByTestId('no-selection').waitFor();
    // Page code goes in as source text: tsx's transform would inject helpers the page lacks.
    const firstPaint = await page.evaluate<{ ms: number; lines: number }>(`(async () => {
      const row = document.querySelector('[data-testid=task-row] .row-main');
      const t = performance.now();
      row.click();
      // Wait for rows in the DOM, then for the frame that paints them.
      await new Promise((r) => {
        const check = () => (document.querySelector('[data-testid=log-view] .log-line') ? r() : requestAnimationFrame(check));
        check();
      });
      const painted = await new Promise((r) => requestAnimationFrame((ts) => r(ts)));
      return { ms: painted - t, lines: Number(document.querySelector('[data-testid=log-view]').getAttribute('data-lines')) };
    })()`);

    // 2. Streaming: frame timing and long tasks while 5k lines/s arrive.
    // The stand-in's marker lines end the burst; the stream starts after its pause.
    // Re-opening fetched the log's tail (closing freed the buffer), so count from what it shows now.
    await waitUntil(async () => ((await logLines()) > firstPaint.lines + 2 ? true : undefined), { timeoutMs: 30_000, stepMs: POLL_MS, what: 'stream start' });
    const linesBefore = await logLines();
    const stream = await page.evaluate<{ frames: number; p50: number; p95: number; p99: number; maxFrame: number; longTasks: number[] }>(`(async () => {
      const windowMs = ${Math.max(1000, STREAM_MS - 1500)};
      const longTasks = [];
      const po = new PerformanceObserver((list) => {
        for (const e of list.getEntries()) longTasks.push(e.duration);
      });
      po.observe({ type: 'longtask', buffered: false });
      const frames = [];
      let last = performance.now();
      const end = last + windowMs;
      await new Promise((r) => {
        const tick = (ts) => {
          frames.push(ts - last);
          last = ts;
          if (ts < end) requestAnimationFrame(tick);
          else r();
        };
        requestAnimationFrame(tick);
      });
      po.disconnect();
      frames.sort((a, b) => a - b);
      const pct = (p) => frames[Math.min(frames.length - 1, Math.floor(frames.length * p))];
      return { frames: frames.length, p50: pct(0.5), p95: pct(0.95), p99: pct(0.99), maxFrame: frames[frames.length - 1], longTasks };
    })()`);
    const linesAfter = await logLines();
    const streamedPerSec = ((linesAfter - linesBefore) / Math.max(1000, STREAM_MS - 1500)) * 1000;
    const maxLong = stream.longTasks.length ? Math.max(...stream.longTasks) : 0;

    // 3. First paint from a fresh page load.
    const fresh = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await fresh.goto(url);
    await fresh.getByTestId('task-row').first().waitFor();
    const load = await fresh.evaluate<{ fcp: number; domReady: number; rows: number }>(`(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const fcp = performance.getEntriesByName('first-contentful-paint')[0];
      const rows = performance.now();
      return { fcp: fcp ? fcp.startTime : NaN, domReady: nav ? nav.domContentLoadedEventEnd : NaN, rows };
    })()`);
    await fresh.close();
    await page.close();

    // 4. Memory after opening and closing 20 long logs (a kiln serve of its own: short jobs).
    const mem = await memoryAfterLogs(browser, dir);

    const fpOk = firstPaint.ms <= 200;
    const ltOk = maxLong <= 50;
    const memOk = mem.afterClose - mem.before <= Math.max(2e6, mem.before * 0.1);
    const f = (n: number) => n.toFixed(1);
    console.log('\nKiln renderer log benchmark (chromium headless, real kiln serve pipeline)');
    console.log(`  burst: ${BURST} lines reached the log view in ${burstMs} ms`);
    console.log(`  first paint of the re-opened log view of a ${BURST}-line job (${firstPaint.lines} lines fetched): ${f(firstPaint.ms)} ms  (target ≤ 200 ms: ${fpOk ? 'PASS' : 'FAIL'})`);
    console.log(`  streaming: ${f(streamedPerSec)} lines/s rendered over ${stream.frames} frames`);
    console.log(`    frame interval p50 ${f(stream.p50)} ms, p95 ${f(stream.p95)} ms, p99 ${f(stream.p99)} ms, max ${f(stream.maxFrame)} ms`);
    console.log(`    long tasks: ${stream.longTasks.length}${stream.longTasks.length ? ` (max ${f(maxLong)} ms)` : ''}  (target: none over 50 ms: ${ltOk ? 'PASS' : 'FAIL'})`);
    console.log(`  fresh page load: first contentful paint ${f(load.fcp)} ms, DOM ready ${f(load.domReady)} ms, task list on screen by ${f(load.rows)} ms (from navigation start)`);
    const mb = (n: number) => (n / 1e6).toFixed(1);
    console.log(`  renderer heap (after GC): ${mb(mem.before)} MB before (after a warm-up log was opened and closed); ${mb(mem.withLogs)} MB after ${LOGS} logs (${mem.lines} lines in all, streamed live) were opened in turn, the last still open; ${mb(mem.afterClose)} MB after closing it  (target: back within 10 % / 2 MB: ${memOk ? 'PASS' : 'FAIL'})`);
    // Like every Kiln benchmark: a missed target is reported (FAIL above), not an error exit.
    return 0;
  } finally {
    await browser.close();
    serve.kill('SIGTERM');
    await new Promise((r) => serve.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Heap of the page's JS after a forced GC (CDP), in bytes. */
async function heapAfterGc(cdp: { send(m: string, p?: object): Promise<unknown> }): Promise<number> {
  for (let i = 0; i < 3; i++) await cdp.send('HeapProfiler.collectGarbage');
  const r = (await cdp.send('Runtime.getHeapUsage')) as { usedSize: number };
  return r.usedSize;
}

async function memoryAfterLogs(browser: Browser, dir: string): Promise<{ before: number; withLogs: number; afterClose: number; lines: number }> {
  const configDir = join(dir, 'config-mem');
  mkdirSync(configDir);
  for (let i = 0; i <= LOGS; i++) writeFileSync(join(configDir, `mem-${i}.yaml`), `esphome:\n  name: mem-${i}\nesp32:\n  board: esp32dev\n`);
  const serve = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'main/headless/cli/kiln.ts'), 'serve', '--config-dir', configDir, '--port', '0', '--no-peer-link', '--esphome', join(ROOT, 'bench/fixtures/spew-esphome.mjs')],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BENCH_BURST: '0', BENCH_PAUSE_MS: '700', BENCH_RATE: String((LONG_LOG * 1000) / LONG_LOG_MS), BENCH_STREAM_MS: String(LONG_LOG_MS) } },
  );
  let out = '';
  serve.stdout.on('data', (d) => (out += d));
  serve.stderr.on('data', (d) => (out += d));
  try {
    const url = await waitUntil(() => /KILN_SERVE_URL=(\S+)/.exec(out)?.[1], { timeoutMs: 30_000, stepMs: POLL_MS, what: 'kiln serve (memory)' });
    const u = new URL(url.replace(/^http/, "http"));
    const token = new URLSearchParams(u.hash.slice(1)).get('token') ?? '';
    const { client, ws } = await openClient(`ws://${u.host}/rpc`);
    await client.hello(token);
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(url);
    await page.getByTestId('no-selection').waitFor();
    const cdp = await page.context().newCDPSession(page);
    // One job at a time, its log open while its lines stream in (a live log is held whole).
    // Job 0 is a warm-up (opened and closed before the baseline), so the baseline already holds
    // the one-time cost of the log view's code and the first job row.
    let held = 0;
    let before = 0;
    for (let i = 0; i <= LOGS; i++) {
      if (i === 1) {
        await page.getByRole('button', { name: 'Close log' }).click();
        await page.getByTestId('no-selection').waitFor();
        before = await heapAfterGc(cdp);
        held = 0;
      }
      const job = await client.api.compile({ configuration: `mem-${i}.yaml` });
      await page.locator(`[data-testid=task-row][data-job-id="${job.job_id}"] .row-main`).click();
      const panel = page.locator(`[data-testid=log-panel][data-job-id="${job.job_id}"]`);
      await waitUntil(async () => ((await panel.getAttribute('data-status')) === 'completed' ? true : undefined), { timeoutMs: 60_000, stepMs: POLL_MS, what: `job ${i} of ${LOGS}` });
      const shown = Number(await panel.locator('[data-testid=log-view]').getAttribute('data-lines'));
      // The stand-in paces by timer: on a loaded machine it writes fewer lines in its time.
      if (shown < LONG_LOG * 0.5) throw new Error(`log ${i} shows ${shown} lines, expected ~${LONG_LOG}`);
      held += shown;
    }
    ws.close();
    const withLogs = await heapAfterGc(cdp);
    await page.getByRole('button', { name: 'Close log' }).click();
    await page.getByTestId('no-selection').waitFor();
    const afterClose = await heapAfterGc(cdp);
    await page.close();
    return { before, withLogs, afterClose, lines: held };
  } finally {
    serve.kill('SIGTERM');
    await new Promise((r) => serve.once('exit', r));
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(2);
  },
);
