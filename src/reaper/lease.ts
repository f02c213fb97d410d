// One reaper across every VS Code window (and any other process sharing the directory): a lease file with an
// expiry, renewed by its holder on each tick and taken over by another window once it has expired (a window closed,
// crashed or slept). It also carries the time of the last reaper pass, so that handing the lease over does not
// reset the reaper's period.
//
// Every read-modify-write of the lease happens under a guard directory: mkdir is atomic on every file system VS
// Code's global storage lives on, so two windows never both decide they hold the lease. The new content is written
// to a temporary file and renamed over the lease, so a reader never sees half a file.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';

export interface LeaseRecord {
  owner: string;
  /** Local milliseconds since the epoch; every window runs on the same machine, hence the same clock. */
  expiresAt: number;
  /** When the holder last completed a reaper pass; 0 if never. */
  lastPassAt: number;
  pid: number;
}

/** A guard older than this was left by a process that died inside the (milliseconds-long) critical section. */
const STALE_GUARD_MS = 10_000;

export class Lease {
  readonly owner: string;
  private readonly file: string;
  private readonly guard: string;

  constructor(
    private readonly dir: string,
    private readonly opts: { ttlMs: number; owner?: string; name?: string; now?: () => number },
  ) {
    this.owner = opts.owner ?? `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    const name = opts.name ?? 'reaper.lease';
    this.file = path.join(dir, name);
    this.guard = path.join(dir, `${name}.guard`);
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /**
   * Takes or renews the lease. Returns the record when this owner holds it (until `expiresAt`), undefined when
   * another live owner does or the guard is busy (try again on the next tick).
   */
  async acquire(): Promise<LeaseRecord | undefined> {
    return this.guarded(async () => {
      const cur = await this.read();
      const now = this.now();
      if (cur && cur.owner !== this.owner && cur.expiresAt > now && holderAlive(cur)) return undefined;
      const next: LeaseRecord = { owner: this.owner, expiresAt: now + this.opts.ttlMs, lastPassAt: cur?.lastPassAt ?? 0, pid: process.pid };
      await this.write(next);
      return next;
    });
  }

  /** Records a completed pass, if this owner still holds the lease. */
  async recordPass(at = this.now()): Promise<boolean> {
    const done = await this.guarded(async () => {
      const cur = await this.read();
      if (!cur || cur.owner !== this.owner) return false;
      await this.write({ ...cur, lastPassAt: at, expiresAt: Math.max(cur.expiresAt, this.now() + this.opts.ttlMs) });
      return true;
    });
    return done === true;
  }

  /** Gives the lease up (keeping the time of the last pass for the next holder). */
  async release(): Promise<void> {
    await this.guarded(async () => {
      const cur = await this.read();
      if (cur && cur.owner === this.owner) await this.write({ ...cur, expiresAt: 0 });
      return true;
    });
  }

  /** The current record as stored, whoever holds it. */
  async read(): Promise<LeaseRecord | undefined> {
    try {
      const v = JSON.parse(await fs.readFile(this.file, 'utf8')) as Partial<LeaseRecord>;
      if (typeof v.owner !== 'string' || typeof v.expiresAt !== 'number') return undefined;
      return { owner: v.owner, expiresAt: v.expiresAt, lastPassAt: typeof v.lastPassAt === 'number' ? v.lastPassAt : 0, pid: v.pid ?? 0 };
    } catch {
      // Missing or unreadable (a truncated file from a full disk): as good as free.
      return undefined;
    }
  }

  private async write(r: LeaseRecord): Promise<void> {
    const tmp = `${this.file}.${randomUUID().slice(0, 8)}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(r), { mode: 0o600 });
    await fs.rename(tmp, this.file);
  }

  /** Runs `fn` while holding the guard; undefined if the guard stayed busy for a few short attempts. */
  private async guarded<T>(fn: () => Promise<T>): Promise<T | undefined> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (let attempt = 0; attempt < 8; attempt++) {
      try {
        await fs.mkdir(this.guard);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        await this.clearStaleGuard();
        await sleep(10 + Math.random() * 40);
        continue;
      }
      try {
        return await fn();
      } finally {
        await fs.rmdir(this.guard).catch(() => undefined);
      }
    }
    return undefined;
  }

  private async clearStaleGuard(): Promise<void> {
    try {
      const st = await fs.stat(this.guard);
      if (Date.now() - st.mtimeMs > STALE_GUARD_MS) await fs.rmdir(this.guard);
    } catch {
      // Gone already, or removed by another window at the same moment.
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * False only when the holder is known dead: it ran on this machine (the owner starts with our hostname) and its
 * process is gone. A reloaded or killed extension host thus hands over at the next tick instead of after the TTL.
 */
function holderAlive(rec: LeaseRecord): boolean {
  if (!rec.pid || !rec.owner.startsWith(`${os.hostname()}:`)) return true;
  try {
    process.kill(rec.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
