// What the cloud reaper's actions do, each `(params) => result`, over the same providers and reaper policy as the
// extension and the CLI. Only tagged machines are ever listed or destroyed (the providers refuse anything else).
// Results name the machines and say why; errors go through messageOf with every bound secret redacted, so no
// token or secret ever reaches an activation result.

import { messageOf } from '../base/errors';
import { decideReaping, reapTargets } from '../reaper/policy';
import { PROVIDER_LABEL } from '../base/tokens';
import { isRunId } from '../providers/tags';
import type { CloudProvider, Machine, ProviderId } from '../providers/types';
import { codeMatches } from './destroy-code';
import { maxAgeOf, PARAM, providersOf, secretsOf, str, type Params } from './params';

export interface MachineRef {
  provider: ProviderId;
  id: string;
  name: string;
  /** Why it was destroyed (or would be). */
  why?: string;
}

export interface PassResult {
  ok: boolean;
  destroyed: MachineRef[];
  /** Destroys that failed: retried at the next pass. */
  failed: (MachineRef & { error: string })[];
  /** Providers whose machines could not be listed: nothing was destroyed there. */
  skipped: { provider: ProviderId; error: string }[];
  error?: string;
}

export interface ListResultBody {
  ok: boolean;
  machines: (MachineRef & { status: string; deadline?: string; createdAt: string })[];
  skipped: { provider: ProviderId; error: string }[];
}

/** A web action's answer: OpenWhisk turns it into the HTTP response. */
export interface WebResult {
  statusCode: number;
  headers: Record<string, string>;
  body: { ok: boolean; destroyed: MachineRef[]; error?: string; due?: boolean; deadline?: string };
}

const ref = (m: Machine, why?: string): MachineRef => ({ provider: m.provider, id: m.id, name: m.name, ...(why ? { why } : {}) });

const NO_TOKEN = 'No cloud token is bound to the reaper: deploy it again with a DigitalOcean and/or Hetzner token.';

export async function listAction(params: Params): Promise<ListResultBody> {
  const secrets = secretsOf(params);
  const out: ListResultBody = { ok: true, machines: [], skipped: [] };
  for (const p of providersOf(params)) {
    try {
      const { machines } = await p.list();
      for (const m of machines) {
        out.machines.push({ ...ref(m), status: m.status, createdAt: m.createdAt, ...(m.deadline ? { deadline: m.deadline } : {}) });
      }
    } catch (err) {
      out.ok = false;
      out.skipped.push({ provider: p.id, error: messageOf(err, secrets) });
    }
  }
  return out;
}

/** The scheduled pass: what `thebacknd destroy-old` destroys, on each provider's own clock. */
export function destroyOldAction(params: Params): Promise<PassResult> {
  const maxAgeMinutes = maxAgeOf(params);
  return pass(params, (machines, serverTime) => reapTargets({ machines, serverTime, maxAgeMinutes }));
}

export function destroyAllAction(params: Params): Promise<PassResult> {
  return pass(params, (machines) => machines.map((m) => ({ machine: m, why: `${m.name}: destroy-all` })));
}

async function pass(params: Params, pick: (machines: Machine[], serverTime: Date) => { machine: Machine; why: string }[]): Promise<PassResult> {
  const secrets = secretsOf(params);
  const providers = providersOf(params);
  if (!providers.length) return { ok: false, destroyed: [], failed: [], skipped: [], error: NO_TOKEN };
  const out: PassResult = { ok: true, destroyed: [], failed: [], skipped: [] };
  for (const p of providers) {
    let listed;
    try {
      listed = await p.list();
    } catch (err) {
      out.ok = false;
      out.skipped.push({ provider: p.id, error: messageOf(err, secrets) });
      continue;
    }
    for (const t of pick(listed.machines, listed.serverTime)) {
      try {
        await p.destroy(t.machine.id);
        out.destroyed.push(ref(t.machine, t.why));
      } catch (err) {
        out.ok = false;
        out.failed.push({ ...ref(t.machine, t.why), error: messageOf(err, secrets) });
      }
    }
  }
  return out;
}

function web(statusCode: number, body: WebResult['body']): WebResult {
  return { statusCode, headers: { 'content-type': 'application/json' }, body };
}

function refuse(statusCode: number, error: string): WebResult {
  return web(statusCode, { ok: false, destroyed: [], error });
}

/**
 * destroy-self: a machine asks to be destroyed with its run id and its code. Refused, destroying nothing: a missing
 * or wrong code (another machine's code is a wrong code for this run id), a run id no tagged machine carries (an
 * untagged machine, or one already gone: a replay). `onlyIfDue`: destroyed only when the reaper policy says so.
 */
export async function destroySelfAction(params: Params): Promise<WebResult> {
  const secret = str(params[PARAM.secret]);
  const secrets = secretsOf(params);
  const runId = str(params.runId);
  const code = str(params.code);
  const onlyIfDue = params.onlyIfDue === true || params.onlyIfDue === 'true' || params.onlyIfDue === '1';
  if (!secret) return refuse(500, 'destroy-self has no secret bound: deploy the reaper again (thebacknd reaper deploy).');
  if (!runId || !isRunId(runId)) return refuse(400, 'Send runId (thebacknd-<uuid>) and code.');
  if (!code) return refuse(400, `Send the destroy code of ${runId}.`);
  if (!codeMatches(secret, runId, code)) return refuse(403, `The destroy code does not match run id ${runId}: nothing was destroyed.`);

  const found: { provider: CloudProvider; machine: Machine; serverTime: Date }[] = [];
  const unlisted: string[] = [];
  for (const p of providersOf(params)) {
    try {
      const { machines, serverTime } = await p.list();
      for (const m of machines) if (m.runId === runId && m.tagged !== false) found.push({ provider: p, machine: m, serverTime });
    } catch (err) {
      unlisted.push(`${PROVIDER_LABEL[p.id]}: ${messageOf(err, secrets)}`);
    }
  }
  if (!found.length) {
    if (unlisted.length) return refuse(503, `Could not look run id ${runId} up (${unlisted.join('; ')}); try again.`);
    return refuse(404, `No machine tagged "thebacknd" has run id ${runId} (already destroyed, or not created by Thebacknd): nothing was destroyed.`);
  }
  const destroyed: MachineRef[] = [];
  let deadline: string | undefined;
  for (const { provider, machine, serverTime } of found) {
    deadline ??= machine.deadline;
    if (onlyIfDue) {
      const due = decideReaping({ machines: [machine], serverTime, maxAgeMinutes: maxAgeOf(params) });
      if (!due.length) continue;
    }
    try {
      await provider.destroy(machine.id);
      destroyed.push(ref(machine, onlyIfDue ? 'due' : 'destroy-self'));
    } catch (err) {
      return web(502, { ok: false, destroyed, error: `Could not destroy ${machine.name}: ${messageOf(err, secrets)}` });
    }
  }
  return web(200, { ok: true, destroyed, ...(onlyIfDue ? { due: destroyed.length > 0 } : {}), ...(deadline ? { deadline } : {}) });
}

/** Wraps an action as the platform calls it: never throws, never returns a secret. */
export function entry<R extends object>(action: (params: Params) => Promise<R>): (params: Params) => Promise<R | { ok: false; error: string }> {
  return async (params) => {
    try {
      return await action(params ?? {});
    } catch (err) {
      return { ok: false, error: messageOf(err, secretsOf(params ?? {})) };
    }
  };
}
