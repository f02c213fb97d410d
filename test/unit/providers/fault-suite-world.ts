// The fault suite's world: one emulated cloud with machines that are not ours (untagged, one of them named and
// marked like ours but without the tag), another window's machine, and a target machine of ours; the real client
// pointed at it; and every call path a user's action goes through, each with the outcome a user should see.
import { setTimeout as sleep } from 'node:timers/promises';
import { startEmulator, type Emulator } from '../../fixtures/emulator';
import { cloudOnlyRunPorts } from '../../fixtures/cloud-only-run';
import { seededPlacement } from '../../fixtures/emulator/seed';
import { mintSecret } from '../../fixtures/secrets';
import { createProvider } from '../../../src/providers';
import type { RetryOptions } from '../../../src/providers/retry';
import { formatDeadline, newRunId } from '../../../src/providers/tags';
import type { CloudProvider, Machine, ProviderId } from '../../../src/providers/types';
import { runToplevel } from '../../../src/run/orchestrate';
import type { RunPorts, RunRequest } from '../../../src/run/types';
import type { Untagged } from './fault-suite-audit';

export const IDS: ProviderId[] = ['digitalocean', 'hetzner'];
export const TOKENS: Record<ProviderId, string> = {
  digitalocean: mintSecret('fault-suite DigitalOcean token', 'dop_v1_', 64),
  hetzner: mintSecret('fault-suite Hetzner token', 'hz', 62),
};

/** Per request; long enough that a loaded CI machine never times out a request the emulator does answer. */
export const REQUEST_TIMEOUT_MS = 1500;
/** Two retries: a single fault must be absorbed, a persistent one must end in a clear error, soon. */
export const RETRY: Partial<RetryOptions> = {
  retries: 2,
  baseDelayMs: 5,
  maxDelayMs: 20,
  timeoutMs: REQUEST_TIMEOUT_MS,
  maxRateLimitWaitMs: 60_000,
  // Rate-limit resets and backoffs are honoured in kind, not in duration.
  sleep: (ms, signal) => sleep(Math.min(ms, 5), undefined, signal ? { signal } : {}),
};

export interface World {
  emu: Emulator;
  id: ProviderId;
  client: CloudProvider;
  untagged: Untagged[];
  /** A run id carried by an untagged machine (someone copied our marks, but not the tag). */
  strangerRunId: string;
  target: { id: string; runId: string };
  /** Run ids of the machines the call creates or removes (to count what is left for the reaper). */
  ownRunIds: Set<string>;
}

const inAnHour = () => formatDeadline(new Date(Date.now() + 3_600_000));

export async function makeWorld(id: ProviderId): Promise<World> {
  // Short lifecycle delays, well under one poll interval (POLL_MS): a new machine is running at the first status
  // poll, so a call sends the same requests every time (the fault matrix addresses requests by their position).
  const emu = await startEmulator({ delays: { doActiveMs: 10, hetznerStartingMs: 5, hetznerRunningMs: 5, actionMs: 0, deleteMs: 0 } });
  const strangerRunId = newRunId();
  const targetRun = newRunId();
  const untagged: Untagged[] = [];
  let targetId: number;
  if (id === 'digitalocean') {
    const web = emu.addDroplet({ name: 'web-1', tags: ['web'], region: 'ams3' });
    const stranger = emu.addDroplet({ name: 'thebacknd-1', tags: [strangerRunId, 'thebacknd-deadline:20000101T000000Z'], region: 'ams3' });
    untagged.push({ provider: id, id: web.id, tags: web.tags }, { provider: id, id: stranger.id, tags: stranger.tags });
    emu.addDroplet({ name: 'thebacknd-2', tags: ['thebacknd', newRunId(), `thebacknd-deadline:${inAnHour()}`], region: 'ams3' });
    targetId = emu.addDroplet({ name: 'thebacknd-3', tags: ['thebacknd', targetRun, `thebacknd-deadline:${inAnHour()}`], region: 'ams3' }).id;
  } else {
    const web = emu.addServer({ name: 'web-1', labels: { env: 'prod' } });
    const stranger = emu.addServer({ name: 'thebacknd-1', labels: { 'thebacknd-run': strangerRunId, 'thebacknd-deadline': '20000101T000000Z' } });
    untagged.push({ provider: id, id: web.id }, { provider: id, id: stranger.id });
    emu.addServer({ name: 'thebacknd-2', labels: { thebacknd: '', 'thebacknd-run': newRunId(), 'thebacknd-deadline': inAnHour() } });
    targetId = emu.addServer({ name: 'thebacknd-3', labels: { thebacknd: '', 'thebacknd-run': targetRun, 'thebacknd-deadline': inAnHour() } }).id;
  }
  const client = createProvider(id, { token: TOKENS[id], endpoint: id === 'digitalocean' ? emu.doUrl : emu.hetznerUrl, retry: RETRY });
  return { emu, id, client, untagged, strangerRunId, target: { id: String(targetId), runId: targetRun }, ownRunIds: new Set() };
}

export type Expect = 'ok' | 'refused' | 'cancelled' | 'run-failed';

export interface CallPath {
  name: string;
  /** What a user sees when nothing goes wrong. */
  expect: Expect;
  /** Builds the call (no request may be sent here). The call returns a problem with its result, if any. */
  prepare(w: World): (signal: AbortSignal) => Promise<string | undefined>;
}

const createRequest = (id: ProviderId, runId: string) => ({
  ...seededPlacement(id),
  userData: '{"version":1,"authorizedKeys":[]}',
  deadline: new Date(Date.now() + 3_600_000),
  runId,
});

function runPorts(w: World, over: Partial<RunPorts>): RunPorts {
  return cloudOnlyRunPorts(w.client, { userData: ({ storePath }) => JSON.stringify({ version: 1, authorizedKeys: [], toplevel: storePath }), ...over });
}

const runRequest = (id: ProviderId): RunRequest => ({
  payload: { kind: 'toplevel', storePath: '/nix/store/00000000000000000000000000000000-nixos-system-fault' },
  placement: seededPlacement(id),
  maxAgeMinutes: 60,
  transfer: 'cache',
  cachePrivate: false,
  onFailure: 'destroy',
  pollMs: POLL_MS,
  runningTimeoutMs: 20_000,
});

/** Run Toplevel's status poll interval here: longer than the emulated boot, so exactly one poll sees it running. */
const POLL_MS = 40;

const AGENT_FAILURE = 'the agent could not fetch /nix/store/…-fault';

function machineCheck(m: Machine | undefined, want: { id?: string; tagged?: boolean }): string | undefined {
  if (!m) return 'no machine returned';
  if (want.id !== undefined && m.id !== want.id) return `returned machine ${m.id}, not ${want.id}`;
  if (want.tagged !== undefined && (m.tagged !== false) !== want.tagged) return `tagged=${m.tagged}`;
  return undefined;
}

export const CALL_PATHS: CallPath[] = [
  {
    name: 'list',
    expect: 'ok',
    prepare: (w) => async (signal) => {
      const { machines } = await w.client.list(signal);
      const foreign = machines.filter((m) => w.untagged.some((u) => String(u.id) === m.id));
      return foreign.length ? `listed untagged machine(s) ${foreign.map((m) => m.name).join(', ')}` : machines.length < 2 ? `listed ${machines.length} of 2 machines` : undefined;
    },
  },
  { name: 'get', expect: 'ok', prepare: (w) => async (signal) => machineCheck(await w.client.get(w.target.id, signal), { id: w.target.id, tagged: true }) },
  {
    name: 'get (untagged)',
    expect: 'ok',
    prepare: (w) => async (signal) => machineCheck(await w.client.get(String(w.untagged[1]!.id), signal), { tagged: false }),
  },
  {
    name: 'create',
    expect: 'ok',
    prepare: (w) => {
      const runId = newRunId();
      w.ownRunIds.add(runId);
      return async (signal) => {
        const m = await w.client.create(createRequest(w.id, runId), signal);
        return m.runId !== runId ? `created machine carries run id ${m.runId}` : machineCheck(m, { tagged: true });
      };
    },
  },
  {
    name: 'destroy',
    expect: 'ok',
    prepare: (w) => (
      w.ownRunIds.add(w.target.runId),
      async (signal) => {
        await w.client.destroy(w.target.id, signal);
        return liveIn(w, w.target.id) ? 'the machine is still there' : undefined;
      }
    ),
  },
  { name: 'destroy (untagged)', expect: 'refused', prepare: (w) => async (signal) => void (await w.client.destroy(String(w.untagged[1]!.id), signal)) },
  {
    name: 'destroyByRunId',
    expect: 'ok',
    prepare: (w) => (
      w.ownRunIds.add(w.target.runId),
      async (signal) => {
        const n = await w.client.destroyByRunId(w.target.runId, signal);
        return n !== 1 ? `destroyed ${n} machines, not 1` : liveIn(w, w.target.id) ? 'the machine is still there' : undefined;
      }
    ),
  },
  {
    name: 'destroyByRunId (untagged run)',
    expect: 'ok',
    prepare: (w) => async (signal) => {
      const n = await w.client.destroyByRunId(w.strangerRunId, signal);
      return n !== 0 ? `destroyed ${n} machines of a run that is not ours` : undefined;
    },
  },
  {
    name: 'setDeadline',
    expect: 'ok',
    prepare: (w) => async (signal) => {
      const deadline = new Date(Math.floor(Date.now() / 1000) * 1000 + 2 * 3_600_000);
      await w.client.setDeadline(w.target.id, deadline, signal);
      const stored = deadlinesIn(w, w.target.id);
      return stored.join() !== formatDeadline(deadline) ? `the machine's deadline marks are [${stored.join(', ')}], not ${formatDeadline(deadline)}` : undefined;
    },
  },
  {
    name: 'setDeadline (untagged)',
    expect: 'refused',
    prepare: (w) => async (signal) => void (await w.client.setDeadline(String(w.untagged[1]!.id), new Date(Date.now() + 3_600_000), signal)),
  },
  {
    name: 'powerOff',
    expect: 'ok',
    prepare: (w) => async (signal) => {
      await w.client.powerOff!(w.target.id, signal);
      const status = statusIn(w, w.target.id);
      return status !== 'off' ? `status is ${status}, not off` : undefined;
    },
  },
  { name: 'powerOff (untagged)', expect: 'refused', prepare: (w) => async (signal) => void (await w.client.powerOff!(String(w.untagged[0]!.id), signal)) },
  { name: 'regions', expect: 'ok', prepare: (w) => async (signal) => ((await w.client.regions(signal)).length ? undefined : 'no regions') },
  { name: 'sizes', expect: 'ok', prepare: (w) => async (signal) => ((await w.client.sizes(signal)).length ? undefined : 'no sizes') },
  {
    name: 'images',
    expect: 'ok',
    prepare: (w) => async (signal) => ((await w.client.images(signal)).some((i) => i.id === seededPlacement(w.id).image) ? undefined : 'base image missing'),
  },
  {
    name: 'run: create, wait, ready, then Destroy',
    expect: 'ok',
    prepare: (w) => {
      const runId = newRunId();
      w.ownRunIds.add(runId);
      return async (signal) => {
        const r = await runToplevel(runPorts(w, {}), runRequest(w.id), signal, () => undefined, runId);
        if (r.machine.status !== 'running') return `run ended with the machine ${r.machine.status}`;
        await w.client.destroy(r.machine.id, signal);
        return liveRun(w, runId) ? 'the machine is still there after Destroy' : undefined;
      };
    },
  },
  {
    name: 'run: the agent fails, the machine is destroyed',
    expect: 'run-failed',
    prepare: (w) => {
      const runId = newRunId();
      w.ownRunIds.add(runId);
      return async (signal) =>
        void (await runToplevel(runPorts(w, { followBoot: async () => ({ ok: false, reason: AGENT_FAILURE }) }), runRequest(w.id), signal, () => undefined, runId));
    },
  },
  {
    name: 'run: cancelled while waiting for SSH',
    expect: 'cancelled',
    prepare: (w) => {
      const runId = newRunId();
      w.ownRunIds.add(runId);
      const ctl = new AbortController();
      return async (signal) => {
        signal.addEventListener('abort', () => ctl.abort(signal.reason), { once: true });
        const waitSsh = async (_ip: string, _k: unknown, s: AbortSignal) => {
          ctl.abort(new DOMException('cancelled by the user', 'AbortError'));
          s.throwIfAborted();
        };
        await runToplevel(runPorts(w, { waitSsh }), runRequest(w.id), ctl.signal, () => undefined, runId);
        return 'the cancelled run went on to ready';
      };
    },
  },
];

function liveIn(w: World, id: string): boolean {
  return w.id === 'digitalocean'
    ? [...w.emu.state.droplets.values()].some((d) => String(d.id) === id && !d.deleting)
    : [...w.emu.state.servers.values()].some((s) => String(s.id) === id && s.status !== 'deleting');
}

/** The deadline(s) stored on the machine, read from the cloud's state (not through the client under test). */
function deadlinesIn(w: World, id: string): string[] {
  if (w.id === 'digitalocean') {
    const d = w.emu.state.droplets.get(Number(id));
    return (d?.tags ?? []).filter((t) => t.startsWith('thebacknd-deadline:')).map((t) => t.slice('thebacknd-deadline:'.length));
  }
  const l = w.emu.state.servers.get(Number(id))?.labels['thebacknd-deadline'];
  return l ? [l] : [];
}

function statusIn(w: World, id: string): string | undefined {
  return w.id === 'digitalocean' ? w.emu.state.droplets.get(Number(id))?.status : w.emu.state.servers.get(Number(id))?.status;
}

export function liveRun(w: World, runId: string): boolean {
  return w.id === 'digitalocean'
    ? [...w.emu.state.droplets.values()].some((d) => d.tags.includes(runId) && !d.deleting)
    : [...w.emu.state.servers.values()].some((s) => s.labels['thebacknd-run'] === runId && s.status !== 'deleting');
}

export { AGENT_FAILURE };
