// The soak: the real extension in a real VS Code (code-server + Chromium, test/e2e/workbench.ts) with its reaper
// running (period: thebacknd.reapIntervalMinutes = 1), against the cloud emulator, while this script — another
// client of the same clouds, like the CLI or a second machine — creates and destroys machines with random
// deadlines (some already past), powers some off from inside, arms random faults (429, 5xx, timeouts, resets, lost
// answers) on the requests everyone makes, and restarts the extension host at random (Reload Window, or kill -9 of
// the extension host followed by a reload, as a user recovers from a crash). Untagged machines sit among them.
// It prints the counts — among them how many machines stayed up more than one reaper period past their deadline (or
// their own power-off) while faults and restarts went on — and checks, from the emulator's own state and log:
//   - at the end, once faults and restarts stop, one reaper period later no tagged machine is past due by more;
//   - no machine of a run was duplicated, no untagged machine was touched;
//   - no token appears in the extension's logs, settings or anything the workbench shows.
// Exit status 0 when all hold. `npm run soak` (SOAK_RUNS, default 50; SOAK_SEED for a repeatable sequence;
// SOAK_RESTARTS, the chance of a restart per step, default 0.12, 0 for a control run).
// SOAK_CLOUD_REAPER=1: the cloud reaper is deployed into the emulated DigitalOcean Functions (its trigger firing in
// real time every period) and VS Code is killed for good half-way: from then on only the scheduled function reaps,
// and the same criteria must hold. Needs `npm run build` (dist/reaper/).
import fs from 'node:fs';
import path from 'node:path';
import { startEmulator, type Emulator, type FaultKind, type FaultSpec } from '../fixtures/emulator';
import { DO_IMAGES, HZ_IMAGES } from '../fixtures/emulator/seed';
import { artefact, dirArtefacts, mintSecret, scanForSecrets } from '../fixtures/secrets';
import { duplicates, machinesOf, untaggedTouched, type Untagged } from '../unit/providers/fault-suite-audit';
import { openWorkbench, resultsDir, type Workbench } from '../e2e/workbench';
import { createProvider } from '../../src/providers';
import { deployReaper } from '../../src/cloud-reaper/deploy';
import type { CloudProvider, ProviderId } from '../../src/providers/types';

const RUNS = Math.max(1, Number(process.env.SOAK_RUNS ?? 50) || 50);
/** Chance of an extension-host restart after each step (SOAK_RESTARTS=0: a control run without any). */
const RESTART_RATE = Math.min(1, Math.max(0, Number(process.env.SOAK_RESTARTS ?? 0.12)));
const PERIOD_MS = 60_000; // thebacknd.reapIntervalMinutes = 1, the smallest
const CLOUD_REAPER = process.env.SOAK_CLOUD_REAPER === '1';
/** Cloud reaper mode: VS Code is killed for good once this many runs are made. */
const KILL_AT = CLOUD_REAPER ? Math.ceil(RUNS / 2) : Infinity;
const TOKENS: Record<ProviderId, string> = { digitalocean: mintSecret('soak DigitalOcean token', 'dop_v1_', 64), hetzner: mintSecret('soak Hetzner token', 'hz', 62) };

/** A small seeded PRNG (mulberry32), so that SOAK_SEED replays a sequence. */
const seed = Number(process.env.SOAK_SEED ?? Date.now() % 1_000_000);
let state = seed >>> 0;
function random(): number {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
const between = (lo: number, hi: number) => lo + random() * (hi - lo);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (line: string) => console.log(`[soak ${new Date().toISOString().slice(11, 19)}] ${line}`);

interface Tracked {
  provider: ProviderId;
  id: number;
  name: string;
  deadline: number;
  createdAt: number;
  /** When this script powered it off from inside (the reaper destroys such machines at once). */
  offAt?: number;
  /** When the cloud's state first showed it deleted or being deleted (watched every 500 ms). */
  goneAt?: number;
}

/** Extension hosts of this code-server: descendants of its process whose command line says so. */
function extensionHostPids(userDataDir: string): number[] {
  const procs: { pid: number; ppid: number; cmd: string }[] = [];
  for (const n of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${n}/cmdline`, 'utf8').split('\0').join(' ');
      const stat = fs.readFileSync(`/proc/${n}/stat`, 'utf8');
      procs.push({ pid: Number(n), ppid: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]), cmd });
    } catch {
      // gone meanwhile
    }
  }
  const roots = procs.filter((p) => p.cmd.includes(userDataDir)).map((p) => p.pid);
  const out: number[] = [];
  const queue = [...roots];
  while (queue.length) {
    const p = queue.shift()!;
    for (const c of procs.filter((x) => x.ppid === p)) {
      if (c.cmd.includes('--type=extensionHost')) out.push(c.pid);
      queue.push(c.pid);
    }
  }
  return [...new Set(out)];
}

async function reload(wb: Workbench): Promise<void> {
  await wb.page.reload();
  const icon = wb.page.locator('.activitybar a.action-label[aria-label="Thebacknd"]');
  await icon.waitFor({ state: 'visible', timeout: 60_000 });
  // The restored window may show the Thebacknd entry as selected with the sidebar still hidden: click until shown.
  const sidebar = wb.page.locator('.part.sidebar');
  for (let i = 0; i < 5 && !(await sidebar.isVisible()); i++) {
    await icon.click();
    await sidebar.waitFor({ state: 'visible', timeout: 5000 }).catch(() => undefined);
  }
  if (!(await sidebar.isVisible())) throw new Error('the Thebacknd view did not open after the reload');
}

const FAULT_KINDS: FaultKind[] = [429, 500, 502, 503, 'timeout', 'reset', 'lost'];

function randomFault(): FaultSpec {
  const provider = pick<ProviderId>(['digitalocean', 'hetzner']);
  const base = provider === 'digitalocean' ? '/droplets' : '/servers';
  const [method, path] = pick([
    ['GET', base],
    ['GET', `${base}/{id}`],
    ['DELETE', `${base}/{id}`],
    ['POST', base],
  ] as const);
  const kind = pick(FAULT_KINDS);
  // A timeout holds a request for the client's whole timeout (30 s): one at a time.
  return { provider, method, path, kind, times: kind === 'timeout' ? 1 : 1 + Math.floor(random() * 3), ...(random() < 0.5 ? { sideEffect: true } : {}) };
}

async function main(): Promise<number> {
  log(
    `seed ${seed}, ${RUNS} runs, restart rate ${RESTART_RATE}, reaper period ${PERIOD_MS / 1000} s${CLOUD_REAPER ? `, cloud reaper deployed, VS Code killed for good after ${KILL_AT} runs` : ''}`,
  );
  // Account limits well above what the soak keeps alive: a full account would hide the reaper behind create errors.
  const emu: Emulator = await startEmulator({
    delays: { doActiveMs: 300, hetznerStartingMs: 150, hetznerRunningMs: 150, actionMs: 200, deleteMs: 3000 },
    limits: { droplets: 200, servers: 200 },
    ...(CLOUD_REAPER ? { functions: { realTimeTriggers: true } } : {}),
  });
  const untagged: Untagged[] = [];
  for (const name of ['web-1', 'thebacknd-99']) {
    const d = emu.addDroplet({ name, tags: ['web'] });
    untagged.push({ provider: 'digitalocean', id: d.id, tags: d.tags });
    untagged.push({ provider: 'hetzner', id: emu.addServer({ name, labels: { env: 'prod' } }).id });
  }
  const wb = await openWorkbench({
    settings: { 'thebacknd.digitalocean.endpoint': emu.doUrl, 'thebacknd.hetzner.endpoint': emu.hetznerUrl, 'thebacknd.reapIntervalMinutes': PERIOD_MS / 60_000 },
    env: { DIGITALOCEAN_ACCESS_TOKEN: TOKENS.digitalocean, HCLOUD_TOKEN: TOKENS.hetzner },
  });
  const clients: Record<ProviderId, CloudProvider> = {
    digitalocean: createProvider('digitalocean', { token: TOKENS.digitalocean, endpoint: emu.doUrl, retry: { timeoutMs: 5000 } }),
    hetzner: createProvider('hetzner', { token: TOKENS.hetzner, endpoint: emu.hetznerUrl, retry: { timeoutMs: 5000 } }),
  };
  if (CLOUD_REAPER) {
    const d = await deployReaper({
      digitaloceanToken: TOKENS.digitalocean,
      hetznerToken: TOKENS.hetzner,
      endpoints: { digitalocean: emu.doUrl, hetzner: emu.hetznerUrl },
      intervalMinutes: PERIOD_MS / 60_000,
      maxAgeMinutes: 60,
    });
    log(`cloud reaper deployed: ${d.namespace}, ${d.trigger.cron}`);
  }
  let vscodeGone = false;
  let killedAt: number | undefined;
  let workbenchArtefacts: ReturnType<typeof artefact>[] = [];
  const collectWorkbench = async () => [
    ...dirArtefacts('code-server user data', wb.server.userDataDir, { exclude: /\/(CachedData|CachedExtensionVSIXs|extensions)\// }),
    artefact('workbench text', await wb.page.locator('body').innerText()),
    artefact('workbench console', wb.console.join('\n')),
  ];
  const tracked: Tracked[] = [];
  // The cloud's own state is the truth of when a machine went (a delete whose answer was lost still deleted it).
  const watch = setInterval(() => {
    for (const t of tracked) if (t.goneAt === undefined && !isLive(emu, t)) t.goneAt = Date.now();
  }, 500);
  const counts = { runs: 0, createFailed: 0, destroyedByScript: 0, poweredOff: 0, faults: 0, reloads: 0, kills: 0 };
  const restarts: { at: number; kind: string }[] = [];
  try {
    await wb.openThebacknd();
    await wb.activated(60_000);
    while (counts.runs < RUNS) {
      const r = random();
      const live = tracked.filter((t) => isLive(emu, t));
      if (r < 0.65 || !live.length) {
        const provider = pick<ProviderId>(['digitalocean', 'hetzner']);
        const c = clients[provider];
        try {
          const { serverTime } = await c.list();
          const deadline = serverTime.getTime() + between(-90_000, 150_000);
          const m = await c.create({
            ...(provider === 'digitalocean'
              ? { region: 'ams3', size: 's-1vcpu-1gb', image: String(DO_IMAGES.find((i) => i.name === 'thebacknd')!.id) }
              : { region: 'fsn1', size: 'cx22', image: String(HZ_IMAGES.find((i) => i.description === 'thebacknd')!.id) }),
            userData: '{"version":1,"authorizedKeys":[]}',
            deadline: new Date(deadline),
          });
          counts.runs++;
          tracked.push({ provider, id: Number(m.id), name: m.name, deadline: Math.floor(deadline / 1000) * 1000, createdAt: Date.now() });
        } catch (err) {
          counts.createFailed++;
          log(`create on ${provider} failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      } else if (r < 0.8) {
        const t = pick(live);
        await clients[t.provider].destroy(String(t.id)).then(
          () => counts.destroyedByScript++,
          (e: Error) => log(`destroy ${t.name} failed: ${e.message}`),
        );
      } else {
        const t = pick(live);
        if (!t.offAt) {
          emu.powerOff(t.provider, t.id);
          t.offAt = Date.now();
          counts.poweredOff++;
        }
      }
      if (random() < 0.35) {
        emu.fault(randomFault());
        counts.faults++;
      }
      if (!vscodeGone && counts.runs >= KILL_AT) {
        workbenchArtefacts = await collectWorkbench();
        await wb.close();
        vscodeGone = true;
        killedAt = Date.now();
        log('VS Code killed for good: only the cloud reaper reaps from now on');
      }
      if (!vscodeGone && random() < RESTART_RATE) {
        if (random() < 0.5) {
          counts.reloads++;
          restarts.push({ at: Date.now(), kind: 'reload' });
          log('Reload Window');
          await reload(wb);
        } else {
          const pids = extensionHostPids(wb.server.userDataDir);
          counts.kills++;
          restarts.push({ at: Date.now(), kind: 'kill' });
          log(`kill -9 extension host ${pids.join(', ') || '(none found)'}`);
          for (const pid of pids) process.kill(pid, 'SIGKILL');
          await sleep(between(2000, 15_000));
          await reload(wb);
        }
      }
      await sleep(between(1500, 4000));
    }
    // The end: no more faults; every deadline that has passed gets one reaper period (and a tick) to be honoured.
    emu.clearFaults();
    const lastDeadline = Math.max(...tracked.map((t) => t.deadline));
    const until = Math.max(Date.now(), Math.min(lastDeadline, Date.now() + 2 * 60_000)) + PERIOD_MS + 30_000;
    log(`runs done; waiting ${Math.round((until - Date.now()) / 1000)} s for the reaper`);
    while (Date.now() < until) await sleep(1000);

    clearInterval(watch);
    const now = Date.now();
    // Due: at the deadline, or at the power-off when that came first, but never before the machine existed (some
    // are created with their deadline already past, as by a client whose clock is behind).
    const dueAt = (t: Tracked) => Math.max(t.createdAt, Math.min(t.deadline, t.offAt ?? Infinity));
    const due = tracked.filter((t) => dueAt(t) <= now && !(t.goneAt !== undefined && t.goneAt <= dueAt(t)));
    const late: string[] = [];
    let maxOutlived = 0;
    for (const t of due) {
      const outlived = (t.goneAt ?? now) - dueAt(t);
      maxOutlived = Math.max(maxOutlived, outlived);
      if (outlived > PERIOD_MS) {
        const near = restarts.filter((x) => x.at >= dueAt(t) - PERIOD_MS && x.at <= dueAt(t) + outlived).map((x) => x.kind);
        const what = t.offAt !== undefined && t.offAt < t.deadline ? 'power-off' : 'deadline';
        late.push(
          `${t.name} (${t.provider} ${t.id}): ${Math.round(outlived / 1000)} s past its ${what}${t.goneAt === undefined ? ', still up' : ''}${near.length ? `; restarts meanwhile: ${near.join(', ')}` : '; no restart meanwhile'}`,
        );
      }
    }
    // The criterion: once faults and restarts stop, one reaper period later no tagged machine is past due by more.
    const stillLate = due.filter((t) => t.goneAt === undefined && now - dueAt(t) > PERIOD_MS);
    const dupes = duplicates(machinesOf(emu)).length;
    const touched = untaggedTouched(emu.requests, untagged).length;
    const activations = emu.functions.activations;
    const findings = scanForSecrets([
      ...(vscodeGone ? workbenchArtefacts : await collectWorkbench()),
      ...activations.map((a) => artefact(`activation ${a.name} ${a.activationId}`, { response: a.response, logs: a.logs })),
    ]);
    console.log(
      `soak: runs=${counts.runs} restart-rate=${RESTART_RATE} create-failures=${counts.createFailed} destroyed-by-client=${counts.destroyedByScript} powered-off=${counts.poweredOff} faults=${counts.faults} reloads=${counts.reloads} kills=${counts.kills} seed=${seed}`,
    );
    console.log(
      `soak: due (deadline or power-off passed)=${due.length} gone-within-one-period=${due.length - late.length} later=${late.length} max-past-due=${Math.round(maxOutlived / 1000)} s (period ${PERIOD_MS / 1000} s)`,
    );
    console.log(`soak: at the end, tagged machines more than one period past due=${stillLate.length}`);
    console.log(`soak: duplicates=${dupes} untagged-touched=${touched} secrets-found=${findings.length} spec-violations=${emu.violations.length}`);
    if (CLOUD_REAPER) {
      const afterKill = due.filter((t) => killedAt !== undefined && dueAt(t) >= killedAt);
      const lateAfterKill = afterKill.filter((t) => (t.goneAt ?? now) - dueAt(t) > PERIOD_MS);
      const reaped = activations.filter((a) => a.name === 'destroy-old').reduce((n, a) => n + ((a.response.result as { destroyed?: unknown[] }).destroyed ?? []).length, 0);
      console.log(
        `soak: cloud reaper: destroy-old activations=${activations.filter((a) => a.name === 'destroy-old').length} machines-it-destroyed=${reaped} ` +
          `failed-activations=${activations.filter((a) => !a.response.success).length}; due after VS Code was killed=${afterKill.length} later-than-one-period=${lateAfterKill.length}`,
      );
    }
    for (const l of late) console.log(`soak: late: ${l}`);
    // For whoever reads a failure: the extension's own log and the clouds' request log, side by side.
    fs.mkdirSync(resultsDir, { recursive: true });
    const ext = dirArtefacts('logs', `${wb.server.userDataDir}/logs`).filter((a) => /Thebacknd\.log$/.test(a.name));
    fs.writeFileSync(path.join(resultsDir, 'soak-extension.log'), ext.map((a) => `=== ${a.name}\n${a.text}`).join('\n'));
    fs.writeFileSync(
      path.join(resultsDir, 'soak-requests.log'),
      emu.requests.map((q) => `${new Date(q.at).toISOString()} ${q.method} ${q.path}${q.query} ${q.status}${q.fault ? ` fault=${q.fault}` : ''}`).join('\n') +
        `\n\nrestarts: ${restarts.map((x) => `${new Date(x.at).toISOString()} ${x.kind}`).join(', ')}\n` +
        `machines: ${tracked.map((t) => `${t.name} ${t.provider} ${t.id} deadline ${new Date(t.deadline).toISOString()}${t.offAt ? ` off ${new Date(t.offAt).toISOString()}` : ''}`).join('\n')}\n`,
    );
    console.log(`soak: logs in ${path.relative(process.cwd(), resultsDir)}/soak-extension.log and soak-requests.log`);
    for (const f of findings.slice(0, 10)) console.log(`soak: secret: ${f.secret} in ${f.artefact} (${f.form})`);
    return stillLate.length || dupes || touched || findings.length ? 1 : 0;
  } finally {
    clearInterval(watch);
    if (!vscodeGone) await wb.close();
    await emu.close();
  }
}

function isLive(emu: Emulator, t: Tracked): boolean {
  return t.provider === 'digitalocean'
    ? !!emu.state.droplets.get(t.id) && !emu.state.droplets.get(t.id)!.deleting
    : emu.state.servers.get(t.id)?.status !== undefined && emu.state.servers.get(t.id)!.status !== 'deleting';
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
