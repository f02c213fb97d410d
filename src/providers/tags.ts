// What thebacknd writes on a machine, and how it reads it back. Both clouds keep it on the machine itself, so every
// window, the CLI and the reaper agree without any other state:
//   DigitalOcean tags   (`[a-zA-Z0-9_:-]`, ≤ 255):  thebacknd, thebacknd-<uuid>, thebacknd-deadline:<time>, thebacknd-toplevel:<hash>
//   Hetzner labels      (values `[a-zA-Z0-9_.-]`, ≤ 63, alphanumeric ends): thebacknd="", thebacknd-run=<run id>,
//                       thebacknd-deadline=<time>, thebacknd-toplevel=<hash>
// <time> is ISO 8601 basic format (20261123T174300Z): valid in both alphabets and still readable in a console.

import { randomUUID } from 'node:crypto';
import { UserError } from '../base/errors';
import { TAG } from './types';

export const DO_DEADLINE = `${TAG}-deadline:`;
export const DO_TOPLEVEL = `${TAG}-toplevel:`;
export const LABEL_RUN = `${TAG}-run`;
export const LABEL_DEADLINE = `${TAG}-deadline`;
export const LABEL_TOPLEVEL = `${TAG}-toplevel`;

/** Fits a Hetzner label value (≤ 63, alphanumeric ends) and a DigitalOcean tag, and is told apart from our other tags. */
const RUN_ID = /^thebacknd-[a-z0-9](?:[a-z0-9-]{0,51}[a-z0-9])?$/i;
const UUID_RUN_ID = /^thebacknd-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const STORE_HASH = /^[0-9a-df-np-sv-z]{32}$/;

export function newRunId(): string {
  return `${TAG}-${randomUUID()}`;
}

export function isRunId(s: string): boolean {
  return RUN_ID.test(s) && !/^thebacknd-(deadline|toplevel|run)$/.test(s);
}

/** A preset run id must fit both clouds' alphabets, or the create would fail on it (or the tag be misread). */
export function checkRunId(runId: string): string {
  if (!isRunId(runId)) throw new UserError(`Invalid run id "${runId}": it must look like thebacknd-<uuid> (letters, digits, dashes; at most 63 characters).`);
  return runId;
}

export function formatDeadline(d: Date): string {
  return d
    .toISOString()
    .replace(/\.\d{3}/, '')
    .replace(/[-:]/g, '');
}

export function parseDeadline(s: string | undefined): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s ?? '');
  if (!m) return undefined;
  const d = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** `/nix/store/<hash>-name…` → `<hash>`; a bare hash is accepted as is. */
export function storeHash(path: string | undefined): string | undefined {
  if (!path) return undefined;
  const base = path.replace(/^\/nix\/store\//, '');
  const hash = base.slice(0, 32);
  return STORE_HASH.test(hash) && (base.length === 32 || base[32] === '-') ? hash : undefined;
}

export function sameStorePath(a: string | undefined, b: string | undefined): boolean {
  const ha = storeHash(a);
  return ha !== undefined && ha === storeHash(b);
}

export interface Marks {
  tagged: boolean;
  runId: string | undefined;
  deadline: string | undefined;
  toplevel: string | undefined;
}

export function doTags(runId: string, deadline: Date, toplevel?: string): string[] {
  const tags = [TAG, runId, DO_DEADLINE + formatDeadline(deadline)];
  const hash = storeHash(toplevel);
  if (hash) tags.push(DO_TOPLEVEL + hash);
  return tags;
}

export function readDoTags(tags: readonly string[] | undefined): Marks {
  const list = tags ?? [];
  // During an extend the machine briefly carries two deadline tags (the new one is added before the old one goes):
  // the later one is the truth.
  const deadlines = list.filter((t) => t.startsWith(DO_DEADLINE)).map((t) => parseDeadline(t.slice(DO_DEADLINE.length)));
  const latest = deadlines.reduce<Date | undefined>((a, d) => (d && (!a || d > a) ? d : a), undefined);
  const top = list.find((t) => t.startsWith(DO_TOPLEVEL))?.slice(DO_TOPLEVEL.length);
  return {
    tagged: list.includes(TAG),
    runId: list.find((t) => UUID_RUN_ID.test(t)) ?? list.find(isRunId),
    deadline: latest?.toISOString(),
    toplevel: top && STORE_HASH.test(top) ? `/nix/store/${top}` : undefined,
  };
}

export function hetznerLabels(runId: string, deadline: Date, toplevel?: string): Record<string, string> {
  const labels: Record<string, string> = { [TAG]: '', [LABEL_RUN]: runId, [LABEL_DEADLINE]: formatDeadline(deadline) };
  const hash = storeHash(toplevel);
  if (hash) labels[LABEL_TOPLEVEL] = hash;
  return labels;
}

export function readHetznerLabels(labels: Readonly<Record<string, string>> | undefined): Marks {
  const l = labels ?? {};
  const top = l[LABEL_TOPLEVEL];
  return {
    tagged: Object.prototype.hasOwnProperty.call(l, TAG),
    runId: l[LABEL_RUN] || undefined,
    deadline: parseDeadline(l[LABEL_DEADLINE])?.toISOString(),
    toplevel: top && STORE_HASH.test(top) ? `/nix/store/${top}` : undefined,
  };
}

/** Hetzner label selectors: every tagged machine, or the one(s) of a run. */
export const HETZNER_SELECTOR = TAG;
export function hetznerRunSelector(runId: string): string {
  return `${TAG},${LABEL_RUN}==${runId}`;
}
