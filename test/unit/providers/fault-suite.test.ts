// The fault suite: every provider call path (list, get, create, destroy, destroyByRunId, setDeadline, powerOff,
// regions/sizes/images, and Run Toplevel's create → wait → destroy) of both clouds, with each HTTP request it makes
// failing in turn — 429, 500, 502, 503, timeout, connection reset and lost response, once and persistently, before
// and after the cloud acted — against an emulated cloud that also holds machines that are not ours.
// It counts, from the cloud's own state and request log, and asserts to be 0:
//   duplicates (more than one machine per run id), leaked machines (tagged, no deadline, after every call and run has
//   ended), untagged machines touched (any change request aimed at one).
// A single fault must be absorbed (the user sees the normal outcome); a persistent one must end in a one-line
// message (or, for cancelled runs, the cancellation); no call may hang; no message or request carries a token.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FaultKind, LoggedRequest } from '../../fixtures/emulator';
import { scanForSecrets, artefact, emulatorArtefacts, type Finding } from '../../fixtures/secrets';
import { isAbort, UserError } from '../../../src/base/errors';
import type { ProviderId } from '../../../src/providers/types';
import { duplicates, leaked, machinesOf, untaggedTouched, type CloudMachine } from './fault-suite-audit';
import { AGENT_FAILURE, CALL_PATHS, IDS, makeWorld, type CallPath, type Expect } from './fault-suite-world';

interface Step {
  method: string;
  /** The request's path with ids as placeholders: `/v2/droplets/{id}`. */
  route: string;
  /** How many requests with this method and route came before it in the call. */
  nth: number;
  label: string;
}

interface Variant {
  kind: FaultKind;
  sideEffect: boolean;
  persistent: boolean;
  label: string;
}

type Outcome = Expect | 'error' | 'unclear' | 'hung';

interface Result {
  id: ProviderId;
  path: string;
  scenario: string;
  single: boolean;
  outcome: Outcome;
  message: string | undefined;
  problem: string | undefined;
  fired: boolean;
  duplicates: CloudMachine[];
  leaked: CloudMachine[];
  touched: LoggedRequest[];
  leftForReaper: number;
  findings: Finding[];
  emulatorTrouble: string[];
}

const ONCE: FaultKind[] = [429, 500, 502, 503, 'timeout', 'reset', 'lost'];
const SIDE_EFFECT: FaultKind[] = [500, 502, 503, 'timeout', 'reset'];
const PERSISTENT: FaultKind[] = [503, 'timeout', 'reset'];
/** Scenarios of one call path run this many at a time (each on its own emulator); call paths 4 at a time. */
const PARALLEL = 8;

/** Call paths that end with their machine gone: whatever is left is waiting for the reaper. */
const REMOVES = new Set([
  'destroy',
  'destroyByRunId',
  'run: create, wait, ready, then Destroy',
  'run: the agent fails, the machine is destroyed',
  'run: cancelled while waiting for SSH',
]);

function routeOf(path: string): string {
  const seg = path.split('/');
  return seg.map((s, i) => (/^\d+$/.test(s) ? '{id}' : seg[i - 1] === 'tags' && i < seg.length - 1 ? '{tag}' : s)).join('/');
}

function stepsOf(requests: readonly LoggedRequest[]): Step[] {
  const seen = new Map<string, number>();
  return requests.map((r) => {
    const route = routeOf(r.path);
    const key = `${r.method} ${route}`;
    const nth = seen.get(key) ?? 0;
    seen.set(key, nth + 1);
    return { method: r.method, route, nth, label: `${key}${nth ? ` (#${nth + 1})` : ''}` };
  });
}

function variantsFor(step: Step): Variant[] {
  const write = step.method !== 'GET';
  const v: Variant[] = ONCE.map((kind) => ({ kind, sideEffect: false, persistent: false, label: String(kind) }));
  if (write) v.push(...SIDE_EFFECT.map((kind) => ({ kind, sideEffect: true, persistent: false, label: `${kind} after the change` })));
  v.push(...PERSISTENT.map((kind) => ({ kind, sideEffect: false, persistent: true, label: `${kind} every time` })));
  if (write)
    v.push(
      { kind: 'lost', sideEffect: true, persistent: true, label: 'lost every time' },
      { kind: 503, sideEffect: true, persistent: true, label: '503 after the change, every time' },
    );
  return v;
}

async function pool<T, R>(items: readonly T[], n: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

/** One call path on a fresh world, with at most one fault armed on one of its requests. */
async function scenario(id: ProviderId, cp: CallPath, fault?: { step: Step; v: Variant }): Promise<Result & { log: LoggedRequest[] }> {
  const w = await makeWorld(id);
  try {
    const call = cp.prepare(w);
    const from = w.emu.requests.length;
    if (fault) {
      w.emu.fault({
        provider: id,
        method: fault.step.method,
        path: fault.step.route,
        kind: fault.v.kind,
        afterCalls: fault.step.nth,
        times: fault.v.persistent ? 1000 : 1,
        ...(fault.v.sideEffect ? { sideEffect: true } : {}),
      });
    }
    const watchdog = AbortSignal.timeout(60_000);
    let outcome: Outcome;
    let problem: string | undefined;
    let message: string | undefined;
    try {
      problem = await call(watchdog);
      outcome = 'ok';
    } catch (err) {
      message = err instanceof Error ? err.message : String(err);
      if (watchdog.aborted) outcome = 'hung';
      else if (isAbort(err)) outcome = 'cancelled';
      else if (!(err instanceof UserError)) outcome = 'unclear';
      else if (/^Refusing to touch /.test(message)) outcome = 'refused';
      else if (message.includes(AGENT_FAILURE)) outcome = 'run-failed';
      else outcome = 'error';
      if (err instanceof UserError && (/\n/.test(message) || /\bat .+:\d+:\d+/.test(message))) problem = `not a one-line message: ${message}`;
    }
    w.emu.clearFaults();
    const log = w.emu.requests.slice(from);
    const machines = machinesOf(w.emu);
    const left = REMOVES.has(cp.name) || (cp.name === 'create' && outcome !== 'ok') ? machines.filter((m) => m.live && m.runId && w.ownRunIds.has(m.runId)).length : 0;
    const scenarioName = fault ? `${fault.step.label}: ${fault.v.label}` : 'no fault';
    return {
      id,
      path: cp.name,
      scenario: scenarioName,
      single: !fault || !fault.v.persistent,
      outcome,
      message,
      problem,
      fired: !fault || log.some((r) => r.fault !== undefined),
      duplicates: duplicates(machines),
      leaked: leaked(machines),
      touched: untaggedTouched(w.emu.requests, w.untagged),
      leftForReaper: left,
      findings: scanForSecrets([
        ...(message ? [artefact(`${id} ${cp.name} ${scenarioName}: message`, message)] : []),
        ...emulatorArtefacts(w.emu, `${id} ${cp.name} ${scenarioName}`),
      ]),
      emulatorTrouble: [...w.emu.violations, ...w.emu.errors],
      log,
    };
  } finally {
    await w.emu.close();
  }
}

const results: Result[] = [];
/** THEBACKND_FAULTS_ONLY=<regex> runs only the matching call paths (`hetzner: create`), for debugging. */
const only = process.env.THEBACKND_FAULTS_ONLY ? new RegExp(process.env.THEBACKND_FAULTS_ONLY) : undefined;
const describeName = (r: Result) => `${r.id} ${r.path} [${r.scenario}]`;

describe('every provider call path under every fault', { concurrency: 4 }, () => {
  for (const id of IDS) {
    for (const cp of CALL_PATHS.filter((c) => !only || only.test(`${id}: ${c.name}`))) {
      test(`${id}: ${cp.name}`, async (t) => {
        const dry = await scenario(id, cp);
        results.push(dry);
        assert.equal(dry.outcome, cp.expect, `without faults: ${dry.message ?? ''}`);
        assert.equal(dry.problem, undefined);
        const steps = stepsOf(dry.log);
        assert.ok(steps.length > 0, 'the call path makes requests');
        const runs = await pool(
          steps.flatMap((step) => variantsFor(step).map((v) => ({ step, v }))),
          PARALLEL,
          (f) => scenario(id, cp, f),
        );
        t.diagnostic(`${runs.length} scenarios over ${steps.length} requests: ${steps.map((s) => s.label).join(', ')}`);
        results.push(...runs);
        const wrong: string[] = [];
        for (const r of runs) {
          if (!r.fired) wrong.push(`${describeName(r)}: the fault did not fire`);
          const fine = r.single ? r.outcome === cp.expect : r.outcome === cp.expect || r.outcome === 'error';
          if (!fine) wrong.push(`${describeName(r)}: ${r.outcome}${r.message ? ` (${r.message})` : ''}, expected ${cp.expect}${r.single ? ' (a single fault is absorbed)' : ''}`);
          if (r.problem) wrong.push(`${describeName(r)}: ${r.problem}`);
          if (r.single && r.leftForReaper) wrong.push(`${describeName(r)}: a single fault left ${r.leftForReaper} machine(s) up for the reaper`);
        }
        assert.deepEqual(wrong, [], `${wrong.length} of ${runs.length} scenarios went wrong`);
      });
    }
  }
});

const sum = (f: (r: Result) => number) => results.reduce((n, r) => n + f(r), 0);

after(() => {
  // The figures, as plain lines, also when an assertion above failed.
  const outcomes = new Map<string, number>();
  for (const r of results) outcomes.set(r.outcome, (outcomes.get(r.outcome) ?? 0) + 1);
  console.log(
    `faults: duplicates=${sum((r) => r.duplicates.length)} leaked=${sum((r) => r.leaked.length)} untagged-touched=${sum((r) => r.touched.length)} (${results.length} scenarios)`,
  );
  const left = (single: boolean) => sum((r) => (r.single === single ? r.leftForReaper : 0));
  console.log(`faults: outcomes ${[...outcomes].map(([k, n]) => `${k}=${n}`).join(' ')}`);
  console.log(`faults: left up with their deadline for the reaper: after a single fault=${left(true)}, after persistent faults=${left(false)}`);
});

test('figures: no duplicate, no leaked machine, no untagged machine touched', () => {
  assert.ok(only || results.length > 500, `the matrix ran (${results.length} scenarios)`);
  const show = (f: (r: Result) => unknown[]) =>
    results
      .filter((r) => f(r).length)
      .slice(0, 10)
      .map(
        (r) =>
          `${describeName(r)}: ${JSON.stringify(f(r).map((x) => ('name' in (x as object) ? (x as CloudMachine).name : `${(x as LoggedRequest).method} ${(x as LoggedRequest).path}`)))}`,
      );
  assert.deepEqual(
    show((r) => r.duplicates),
    [],
    'duplicate machines',
  );
  assert.deepEqual(
    show((r) => r.leaked),
    [],
    'leaked machines',
  );
  assert.deepEqual(
    show((r) => r.touched),
    [],
    'untagged machines touched',
  );
});

test('no call hangs, every failure is a clear message, no token in any message or request', () => {
  assert.deepEqual(
    results.filter((r) => r.outcome === 'hung' || r.outcome === 'unclear').map((r) => `${describeName(r)}: ${r.outcome} ${r.message ?? ''}`),
    [],
  );
  assert.deepEqual(results.flatMap((r) => r.findings.map((f) => `${f.secret} in ${f.artefact} (${f.form})`)).slice(0, 10), []);
});

test('the emulated clouds saw only requests and answers within the official specs', () => {
  assert.deepEqual([...new Set(results.flatMap((r) => r.emulatorTrouble))].slice(0, 10), []);
});
