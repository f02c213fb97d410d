// What the fault suite counts, read from the emulated clouds themselves (their state and request log), not through
// the clients under test, so that a client bug cannot hide its own traces:
//   duplicates        more than one live machine with the same run id;
//   leaked            a live tagged machine without a deadline (every run has ended when this is called);
//   untagged touched  any POST/PUT/PATCH/DELETE aimed at a machine that does not carry the thebacknd tag/label.
import type { Emulator, LoggedRequest, ProviderName } from '../../fixtures/emulator';

export interface CloudMachine {
  provider: ProviderName;
  id: number;
  name: string;
  tagged: boolean;
  runId: string | undefined;
  hasDeadline: boolean;
  /** Not being deleted. */
  live: boolean;
}

const RUN_ID = /^thebacknd-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DEADLINE = /^\d{8}T\d{6}Z$/;

export function machinesOf(emu: Emulator): CloudMachine[] {
  const out: CloudMachine[] = [];
  for (const d of emu.state.droplets.values()) {
    out.push({
      provider: 'digitalocean',
      id: d.id,
      name: d.name,
      tagged: d.tags.includes('thebacknd'),
      runId: d.tags.find((t) => RUN_ID.test(t)),
      hasDeadline: d.tags.some((t) => t.startsWith('thebacknd-deadline:') && DEADLINE.test(t.slice('thebacknd-deadline:'.length))),
      live: !d.deleting,
    });
  }
  for (const s of emu.state.servers.values()) {
    out.push({
      provider: 'hetzner',
      id: s.id,
      name: s.name,
      tagged: Object.prototype.hasOwnProperty.call(s.labels, 'thebacknd'),
      runId: s.labels['thebacknd-run'] || undefined,
      hasDeadline: DEADLINE.test(s.labels['thebacknd-deadline'] ?? ''),
      live: s.status !== 'deleting',
    });
  }
  return out;
}

/** Machines beyond the first of each run id, among live ones. */
export function duplicates(machines: readonly CloudMachine[]): CloudMachine[] {
  const byRun = new Map<string, CloudMachine[]>();
  for (const m of machines) if (m.live && m.runId) byRun.set(`${m.provider}:${m.runId}`, [...(byRun.get(`${m.provider}:${m.runId}`) ?? []), m]);
  return [...byRun.values()].flatMap((g) => g.slice(1));
}

export function leaked(machines: readonly CloudMachine[]): CloudMachine[] {
  return machines.filter((m) => m.live && m.tagged && !m.hasDeadline);
}

export interface Untagged {
  provider: ProviderName;
  id: number;
  /** DigitalOcean tags it carries (bulk actions by tag would reach it). */
  tags?: string[];
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Requests that tried to change an untagged machine, whatever the cloud answered. */
export function untaggedTouched(requests: readonly LoggedRequest[], untagged: readonly Untagged[]): LoggedRequest[] {
  const ids = new Set(untagged.map((u) => `${u.provider}:${u.id}`));
  const doTags = new Set(untagged.filter((u) => u.provider === 'digitalocean').flatMap((u) => u.tags ?? []));
  return requests.filter((r) => {
    if (!MUTATING.has(r.method) || r.provider === 'unknown') return false;
    const byPath = /^\/v[12]\/(?:droplets|servers)\/(\d+)(?:\/|$)/.exec(r.path);
    if (byPath && ids.has(`${r.provider}:${byPath[1]}`)) return true;
    if (r.provider === 'digitalocean') {
      // Tagging / untagging names its resources in the body.
      if (/^\/v2\/tags\/[^/]+\/resources$/.test(r.path)) {
        const res = (r.body as { resources?: { resource_id?: unknown }[] } | undefined)?.resources ?? [];
        if (res.some((x) => ids.has(`digitalocean:${String(x.resource_id)}`))) return true;
      }
      // Bulk deletes and actions by tag reach every droplet with that tag.
      const bulk = (r.method === 'DELETE' && r.path === '/v2/droplets') || (r.method === 'POST' && r.path === '/v2/droplets/actions');
      if (bulk) {
        const tag = new URLSearchParams(r.query).get('tag_name');
        if (tag !== null && doTags.has(tag)) return true;
      }
    }
    return false;
  });
}
