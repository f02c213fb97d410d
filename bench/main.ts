// `npm run bench`: every benchmark in one run, printed side by side (medians over repeats, their range, ratios) and
// written to test-results/bench.json with the date and the machine. BENCH_REPEATS sets the repeats (default 5);
// BENCH_ONLY=<regex> runs the benchmarks whose name matches; BENCH_BOOT and BENCH_E2E_REPEATS tune the end-to-end
// run (bench/e2e.ts). `npm run bench` runs Node with --openssl-legacy-provider: s3rver encrypts ListObjectsV2
// continuation tokens with DES, which Node 20's OpenSSL 3 keeps there, and `aws s3 sync` of 1,000+ keys pages.
// A benchmark that fails prints n/a with the reason and makes the run exit 1; none prints a number it did not measure.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchActivation } from './activation';
import { benchApiCalls } from './api-calls';
import { benchBundle } from './bundle';
import { benchCache } from './cache';
import { benchDeploy } from './deploy';
import { benchRunToplevel } from './e2e';
import { markdown, notAvailable, table, type Figure } from './figures';
import { benchSshReady, benchSshThroughput } from './ssh';
import { benchTree } from './tree';

const ROOT = path.resolve(__dirname, '..', '..');
const REPEATS = Math.max(1, Number(process.env.BENCH_REPEATS ?? 5) || 5);
const ONLY = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY, 'i') : undefined;

interface Bench {
  name: string;
  unit: string;
  run: () => Promise<Figure[]>;
}

const BENCHES: Bench[] = [
  { name: 'bundle', unit: 'KiB', run: () => benchBundle(REPEATS) },
  // Seven windows or more: one window's figure swings by 2× with the machine's load, so three were not enough to tell.
  { name: 'activation (VS Code)', unit: 'ms', run: () => benchActivation(Math.max(7, REPEATS)) },
  { name: 'tree refresh', unit: 'ms', run: () => benchTree(REPEATS) },
  { name: 'API calls per run', unit: 'calls', run: () => benchApiCalls() },
  { name: 'SSH ready', unit: 'ms', run: () => benchSshReady(REPEATS * 2, REPEATS) },
  { name: 'cache push', unit: 's', run: () => benchCache(REPEATS) },
  { name: 'SSH throughput', unit: 'MB/s', run: () => benchSshThroughput(Math.max(3, Math.ceil(REPEATS / 2))) },
  { name: 'deploy', unit: 's', run: () => benchDeploy(Math.max(3, Math.ceil(REPEATS / 2))) },
  // Minutes per repeat with the modelled boots: one repeat unless BENCH_E2E_REPEATS says otherwise.
  { name: 'Run Toplevel end to end', unit: 's', run: () => benchRunToplevel(Math.max(1, Number(process.env.BENCH_E2E_REPEATS ?? 1) || 1)) },
];

function machine() {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    model: cpus[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    loadAverageAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

async function main(): Promise<number> {
  const started = new Date();
  const t0 = performance.now();
  const info = machine();
  console.log(
    `Thebacknd benchmarks — ${started.toISOString()} — ${info.cpus} × ${info.model}, ${info.memoryGiB} GiB, Node ${info.node}, load ${info.loadAverageAtStart.join(' ')}`,
  );
  const figures: Figure[] = [];
  const timings: Record<string, number> = {};
  let failed = 0;
  for (const b of BENCHES) {
    if (ONLY && !ONLY.test(b.name)) continue;
    const t = performance.now();
    process.stdout.write(`… ${b.name}`);
    try {
      figures.push(...(await b.run()));
    } catch (err) {
      failed++;
      figures.push(notAvailable(b.name, 'failed', b.unit, (err instanceof Error ? err.message : String(err)).split('\n')[0]!));
    }
    timings[b.name] = Math.round((performance.now() - t) / 100) / 10;
    process.stdout.write(` (${timings[b.name]} s)\n`);
  }
  const seconds = Math.round((performance.now() - t0) / 100) / 10;
  console.log(
    `\n${table(figures)}\n\nTotal ${seconds} s; load average at the end ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}.`,
  );

  const file = path.join(ROOT, 'test-results', 'bench.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const result = { date: started.toISOString(), machine: { ...info, loadAverageAtEnd: os.loadavg() }, repeats: REPEATS, seconds, timings, figures, markdown: markdown(figures) };
  fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`Written to ${path.relative(process.cwd(), file) || file}.`);
  return failed ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
