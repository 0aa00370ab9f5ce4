// Issue 18 §3: work per window connect and per job change must not grow with the fleet.
//   1. A real `kiln serve` child with 1,000 configurations and 500 finished jobs: from opening a
//      WebSocket to the first page of jobs + the configuration list received (what the window
//      does on a (re)connect: hello, then getJobsPage and listConfigurations in parallel).
//      The first connect, right after the server is up, gets every name at once while the
//      server's one cold scan parses (`reading` rows) and the rest as deltas; reconnects are
//      served from the cache.
//   2. A changed configuration file → its configurationsChanged delta on the open socket.
//   3. Enqueue-to-persisted at 500 jobs: JobStore.save of one new job (journal append +
//      fdatasync), next to the full snapshot rewrite every save used to be.
//   4. RSS after starting with an oversized store (pruned at start) against a normal one.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import WebSocket from 'ws';
import { createJob, type FirmwareJob } from '../main/core/jobs/model';
import { JobStore } from '../main/core/jobs/store';
import { PROTOCOL_VERSION } from '../preload/contract';
import { percentile, type BenchContext, type BenchResult } from './lib/report';

const ROOT = resolve(import.meta.dirname, '..');
const RSS_AFTER_READY_MS = 10_000;

function yaml(i: number): string {
  return [
    'substitutions:',
    `  name: dev-${i}`,
    `  friendly: Device ${i}`,
    'esphome:',
    '  name: ${name}',
    '  friendly_name: ${friendly}',
    'esp32:',
    '  board: esp32dev',
    'wifi:',
    '  ssid: !secret wifi_ssid',
    '  password: !secret wifi_password',
    'api:',
    'ota:',
    '  - platform: esphome',
    'logger:',
    'sensor:',
    ...Array.from({ length: 8 }, (_, k) => `  - platform: template\n    name: "Sensor ${k}"\n    lambda: return ${k};\n    update_interval: 60s`),
    '',
  ].join('\n');
}

function finishedJob(i: number): FirmwareJob {
  const t = new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString();
  const j = createJob({ configuration: `dev-${i % 1000}.yaml`, job_type: i % 3 === 0 ? 'install' : 'compile' });
  Object.assign(j, { status: 'completed', started_at: t, created_at: t, completed_at: t, exit_code: 0, device_name: `dev-${i}`, device_friendly_name: `Device ${i}` });
  // Realistic size (~750 B per entry, ~373 KB at 500 as in the scale study): an error text.
  j.error = null;
  j.source_label = 'x'.repeat(180);
  return j;
}

export function seed(dir: string, configs: number, jobs: number): { configDir: string; dataDir: string } {
  const configDir = join(dir, 'config');
  const dataDir = join(dir, 'data');
  mkdirSync(configDir, { recursive: true });
  mkdirSync(join(dataDir, 'logs'), { recursive: true, mode: 0o700 });
  writeFileSync(join(configDir, 'secrets.yaml'), 'wifi_ssid: x\nwifi_password: y\n');
  for (let i = 0; i < configs; i++) writeFileSync(join(configDir, `dev-${String(i).padStart(4, '0')}.yaml`), yaml(i));
  const list = Array.from({ length: jobs }, (_, i) => finishedJob(i));
  writeFileSync(join(dataDir, 'jobs.json'), JSON.stringify({ version: 1, jobs: list.map(({ ninja_total: _n, ...r }) => r) }), { mode: 0o600 });
  return { configDir, dataDir };
}

interface Conn {
  ws: WebSocket;
  call(method: string, params?: unknown): Promise<{ result: unknown; bytes: number }>;
  events: Array<{ event: string; data: unknown; at: number }>;
}

function connect(url: string): Promise<Conn> {
  return new Promise((resolveConn, reject) => {
    const ws = new WebSocket(url);
    let next = 1;
    const pending = new Map<number, (r: { result: unknown; bytes: number }) => void>();
    const events: Conn['events'] = [];
    ws.on('message', (d: Buffer) => {
      const m = JSON.parse(d.toString()) as { t: string; id?: number; ok?: boolean; result?: unknown; error?: unknown; event?: string; data?: unknown };
      if (m.t === 'res') {
        if (!m.ok) throw new Error(`call failed: ${JSON.stringify(m.error)}`);
        pending.get(m.id!)?.({ result: m.result, bytes: d.length });
      } else if (m.t === 'evt') events.push({ event: m.event!, data: m.data, at: performance.now() });
    });
    ws.once('error', reject);
    ws.once('open', () =>
      resolveConn({
        ws,
        events,
        call: (method, params = {}) =>
          new Promise((r) => {
            const id = next++;
            pending.set(id, r);
            ws.send(JSON.stringify({ t: 'req', id, method, params }));
          }),
      }),
    );
  });
}

/** One window connect: open → hello → first page of jobs + configurations. */
async function windowConnect(url: string, token: string): Promise<{ ms: number; bytes: number; jobs: number; configs: number; reading: string[]; conn: Conn }> {
  const t0 = performance.now();
  const conn = await connect(url);
  await conn.call('hello', { protocol: PROTOCOL_VERSION, token, client: 'bench' });
  const [page, configs] = await Promise.all([conn.call('getJobsPage', { limit: 100 }), conn.call('listConfigurations')]);
  const ms = performance.now() - t0;
  const list = configs.result as Array<{ name: string; reading?: boolean }>;
  return { ms, bytes: page.bytes + configs.bytes, jobs: (page.result as { jobs: unknown[] }).jobs.length, configs: list.length, reading: list.filter((c) => c.reading).map((c) => c.name), conn };
}

async function until<T>(fn: () => T | undefined, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function serveRss(dir: string, jobs: number, outputLines: number): Promise<number> {
  const { configDir, dataDir } = seed(dir, 10, jobs);
  if (outputLines > 0) {
    const doc = JSON.parse(readFileSync(join(dataDir, 'jobs.json'), 'utf8')) as { jobs: Array<{ output: string[] }> };
    for (const j of doc.jobs) j.output = Array.from({ length: outputLines }, (_, k) => `INFO line ${k} ${'y'.repeat(60)}\n`);
    writeFileSync(join(dataDir, 'jobs.json'), JSON.stringify(doc));
  }
  const serve = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'main/headless/cli/kiln.ts'), 'serve', '--config-dir', configDir, '--data-dir', dataDir, '--port', '0', '--no-peer-link', '--esphome', join(ROOT, 'bench/fixtures/spew-esphome.mjs')],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  serve.stdout.on('data', (d) => (out += d));
  serve.stderr.on('data', (d) => (out += d));
  try {
    await until(() => (/KILN_SERVE_URL=/.test(out) ? true : undefined), 60_000, 'kiln serve');
    await new Promise((r) => setTimeout(r, RSS_AFTER_READY_MS));
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${serve.pid}/status`, 'utf8'))![1]) / 1024;
  } finally {
    serve.kill('SIGTERM');
    await new Promise((r) => serve.once('exit', r));
  }
}

export async function run(ctx: BenchContext): Promise<BenchResult[]> {
  const reconnects = ctx.quick ? 5 : 20;
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-fleet-'));
  const results: BenchResult[] = [];
  const load = (): string => loadavg().map((l) => l.toFixed(1)).join(' ');
  try {
    const { configDir, dataDir } = seed(dir, 1000, 500);
    ctx.log(`seeded 1,000 configurations and 500 finished jobs; load average ${load()} (2 shared cores, other work running)`);
    const serve = spawn(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'main/headless/cli/kiln.ts'), 'serve', '--config-dir', configDir, '--data-dir', dataDir, '--port', '0', '--no-peer-link', '--esphome', join(ROOT, 'bench/fixtures/spew-esphome.mjs')],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    serve.stdout.on('data', (d) => (out += d));
    serve.stderr.on('data', (d) => (out += d));
    try {
      const url = await until(() => /KILN_SERVE_URL=(\S+)/.exec(out)?.[1], 60_000, 'kiln serve');
      const u = new URL(url);
      const token = new URLSearchParams(u.hash.slice(1)).get('token') ?? '';
      const wsUrl = `ws://${u.host}/rpc`;
      // The first connect, as soon as the server is up: the list answers with every name at once
      // (rows not parsed yet marked `reading`); the parsed entries follow as deltas.
      const first = await windowConnect(wsUrl, token);
      const unread = new Set(first.reading);
      const t1 = performance.now();
      let seen = 0;
      await until(() => {
        for (; seen < first.conn.events.length; seen++) {
          const e = first.conn.events[seen];
          if (e === undefined || e.event !== 'configurationsChanged') continue;
          for (const c of (e.data as { changed?: Array<{ name: string; reading?: boolean }> }).changed ?? []) if (!c.reading) unread.delete(c.name);
        }
        return unread.size === 0 ? true : undefined;
      }, 60_000, "the first scan's deltas");
      const completeMs = first.ms + (performance.now() - t1);
      first.conn.ws.close();
      ctx.log(`first connect right after start: usable list (${first.configs} names, ${first.reading.length} still reading) in ${first.ms.toFixed(0)} ms; complete through deltas after ${completeMs.toFixed(0)} ms; ${first.jobs} jobs, ${(first.bytes / 1024).toFixed(0)} KiB`);
      const samples: number[] = [];
      let last = first;
      for (let i = 0; i < reconnects; i++) {
        last = await windowConnect(wsUrl, token);
        samples.push(last.ms);
        if (i < reconnects - 1) last.conn.ws.close();
      }
      ctx.log(`reconnect: p50 ${percentile(samples, 50).toFixed(1)} ms, max ${Math.max(...samples).toFixed(1)} ms over ${reconnects}; ${(last.bytes / 1024).toFixed(0)} KiB per connect`);
      results.push(
        { name: 'window reconnect → first job page + 1,000 configurations (p50)', value: percentile(samples, 50), unit: 'ms', target: 100, better: 'lower', note: `${reconnects} reconnects, max ${Math.max(...samples).toFixed(0)} ms, ${(last.bytes / 1024).toFixed(0)} KiB; load ${load()}` },
        { name: 'window first connect right after start → usable list (names, reading…)', value: first.ms, unit: 'ms', target: 100, better: 'lower', note: `${first.reading.length} of ${first.configs} still reading; complete through deltas after ${completeMs.toFixed(0)} ms; load ${load()}` },
      );
      // A changed file → one delta on the open socket.
      const t0 = performance.now();
      writeFileSync(join(configDir, 'dev-0007.yaml'), yaml(7).replace('name: dev-7', 'name: renamed-7'));
      const evt = await until(() => last.conn.events.find((e) => e.event === 'configurationsChanged'), 30_000, 'configurationsChanged');
      const delta = evt.data as { changed?: Array<{ deviceName: string }> };
      ctx.log(`changed file → configurationsChanged with ${delta.changed?.length ?? 0} entry (${delta.changed?.[0]?.deviceName}) after ${(evt.at - t0).toFixed(0)} ms (100 ms debounce)`);
      results.push({ name: 'changed configuration → delta event', value: evt.at - t0, unit: 'ms', note: `${delta.changed?.length ?? 0} entry in the event` });
      last.conn.ws.close();
    } finally {
      serve.kill('SIGTERM');
      await new Promise((r) => serve.once('exit', r));
    }

    // RSS of a kiln serve started with an oversized store (3,000 jobs with inline output, 26 MB)
    // against one with a normal store, both RSS_AFTER_READY_MS after ready (the prune, its write of
    // the inline outputs to logs/ and the memory-reducing collection after it take seconds under load).
    const rssNormal = await serveRss(join(dir, 'rss-a'), 500, 0);
    const rssBig = await serveRss(join(dir, 'rss-b'), 3000, 100);
    ctx.log(`RSS after start: 500-job store ${rssNormal.toFixed(0)} MB; oversized 3,000-job store (pruned to 500 at start) ${rssBig.toFixed(0)} MB`);
    results.push({ name: 'RSS after start with an oversized store, above a normal one', value: rssBig - rssNormal, unit: 'MB', target: 10, better: 'lower', note: `${rssBig.toFixed(0)} vs ${rssNormal.toFixed(0)} MB` });

    // Enqueue-to-persisted at 500 jobs.
    const storeDir = join(dir, 'store');
    const store = new JobStore(storeDir, { report: () => undefined });
    await store.load();
    const jobs = Array.from({ length: 500 }, (_, i) => finishedJob(i));
    await store.save(() => jobs);
    const n = ctx.quick ? 40 : 200;
    const appendMs: number[] = [];
    for (let i = 0; i < n; i++) {
      jobs.push(createJob({ configuration: `new-${i}.yaml`, job_type: 'compile' }));
      const t = performance.now();
      await store.save(() => jobs);
      appendMs.push(performance.now() - t);
      jobs.splice(0, 1); // keep the history at ~500, as pruning does
    }
    const snapMs: number[] = [];
    for (let i = 0; i < (ctx.quick ? 10 : 30); i++) {
      const t = performance.now();
      await store.compact(() => jobs);
      snapMs.push(performance.now() - t);
    }
    ctx.log(`enqueue → persisted at 500 jobs: journal p50 ${percentile(appendMs, 50).toFixed(2)} ms p95 ${percentile(appendMs, 95).toFixed(2)} ms (${store.stats.snapshots} snapshots incl. compactions); full snapshot rewrite p50 ${percentile(snapMs, 50).toFixed(2)} ms`);
    results.push(
      { name: 'enqueue → persisted at 500 jobs (journal, p50)', value: percentile(appendMs, 50), unit: 'ms', target: 5, better: 'lower', note: `p95 ${percentile(appendMs, 95).toFixed(1)} ms over ${n}; load ${load()}` },
      { name: 'full jobs.json rewrite at 500 jobs (the old per-save cost; now compaction only, p50)', value: percentile(snapMs, 50), unit: 'ms' },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}
