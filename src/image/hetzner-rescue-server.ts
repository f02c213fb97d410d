// The temporary server of a Hetzner image import, from its one-off SSH key to its deletion: created by the provider
// like any machine (thebacknd-N, labelled, with a deadline renewed while the import runs, so that a crash leaves a
// machine the reaper destroys), booted into the rescue system with the key, and deleted with the key whatever
// happened. It owns no snapshot: hetzner.ts decides what becomes of the disk.

import { UserError, messageOf } from '../base/errors';
import { ApiError, isLostAnswer } from '../providers/retry';
import { LABEL_RUN, newRunId } from '../providers/tags';
import type { CloudProvider, Machine } from '../providers/types';
import { generateEd25519, type KeyPair } from '../base/ed25519';
import type { HetznerImageApi } from './hetzner-api';
import { explain, until, waitAction } from './hetzner-wait';
import { connectRescue, type RescueSession } from './rescue-ssh';

export interface RescueServerOptions {
  /** Location and server type of the temporary server. The snapshot then boots on types with at least its disk. */
  location: string;
  serverType: string;
  /** What the temporary server is created with before it boots the rescue system; default debian-12. */
  systemImage?: string;
  /** The Hetzner provider: creates and destroys the temporary server. */
  provider: CloudProvider;
  api: HetznerImageApi;
  /** SSH port of the rescue system; default 22. */
  sshPort?: number;
  signal?: AbortSignal;
  /** Default 2 s. */
  pollIntervalMs?: number;
  /** Until the new server runs; default 10 min. */
  serverTimeoutMs?: number;
  /** Until the rescue system accepts the key; default 10 min. */
  sshTimeoutMs?: number;
  /** The temporary server's deadline is this far ahead, renewed every third of it; default 30 min. */
  leaseMinutes?: number;
}

export class RescueServer {
  readonly runId = newRunId();
  private readonly keyName = `${this.runId}-import`;
  private readonly login: KeyPair = generateEd25519(this.keyName);
  private keyId: number | undefined;
  private keyRequested = false;
  private machine: Machine | undefined;
  private createRequested = false;
  private lease: ReturnType<typeof setInterval> | undefined;
  private session: RescueSession | undefined;

  constructor(
    private readonly o: RescueServerOptions,
    private readonly log: (line: string) => void,
  ) {}

  /** `thebacknd-N`, once the server exists. */
  get name(): string | undefined {
    return this.machine?.name;
  }

  /** The import key, then the server with it, then the lease that keeps its deadline ahead. */
  async create(): Promise<Machine> {
    const o = this.o;
    const leaseMs = (o.leaseMinutes ?? 30) * 60_000;
    this.keyRequested = true;
    this.keyId = await this.createKey({ [LABEL_RUN]: this.runId });
    this.createRequested = true;
    const m = await o.provider.create(
      // With the import key, Hetzner e-mails no root password (and the provider makes no project key for it).
      {
        region: o.location,
        size: o.serverType,
        image: o.systemImage ?? 'debian-12',
        userData: '',
        deadline: new Date(Date.now() + leaseMs),
        runId: this.runId,
        ipv4: true,
        sshKeys: [String(this.keyId)],
      },
      o.signal,
    );
    this.machine = m;
    this.log(`Temporary server ${m.name} (id ${m.id}) created; it is destroyed when the import ends, or by the reaper at its deadline.`);
    // Keep the deadline ahead of the import, so that no reaper takes the server away mid-way.
    this.lease = setInterval(() => {
      o.provider.setDeadline(m.id, new Date(Date.now() + leaseMs)).catch((e: unknown) => this.log(`Could not extend ${m.name}'s deadline: ${messageOf(e)}`));
    }, leaseMs / 3);
    this.lease.unref?.();
    return m;
  }

  /** The server's id and IPv4 address once it runs and is unlocked. */
  async running(): Promise<{ id: number; address: string }> {
    const o = this.o;
    const m = this.machine!;
    const id = Number(m.id);
    const server = await until(
      `${m.name} to start`,
      async () => {
        const s = await o.api.server(id, o.signal);
        if (!s) throw new UserError(`The temporary server ${m.name} disappeared before the import could use it.`);
        return s.status === 'running' && !s.locked ? s : undefined;
      },
      o.serverTimeoutMs ?? 10 * 60_000,
      o.pollIntervalMs ?? 2000,
      o.signal,
    );
    const address = server.ipv4 ?? m.ipv4;
    if (!address) throw new UserError(`${m.name} has no IPv4 address to reach its rescue system.`);
    return { id, address };
  }

  /** enable_rescue with the import key, reset. */
  async bootRescue(id: number, address: string): Promise<void> {
    const o = this.o;
    await waitAction(o, await o.api.enableRescue(id, this.keyId!, o.signal), 'enable the rescue system', 5 * 60_000);
    await waitAction(o, await o.api.reset(id, o.signal), 'reset the server into the rescue system', 5 * 60_000);
    this.log(`${this.machine!.name} is booting the rescue system; connecting to ${address}.`);
  }

  /** Until the rescue system accepts the import key; its host key is accepted on first use (rescue-ssh.ts). */
  async connect(address: string): Promise<RescueSession> {
    const o = this.o;
    this.session = await connectRescue({ host: address, port: o.sshPort, privateKey: this.login.privateKey }, { timeoutMs: o.sshTimeoutMs, signal: o.signal, onAttempt: this.log });
    this.log(
      `Connected to the rescue system of ${this.machine!.name}; its host key ${this.session.fingerprint} was accepted on first use (rescue host keys cannot be known in advance).`,
    );
    return this.session;
  }

  /** Closes the rescue connection (the disk is written). */
  disconnect(): void {
    this.session?.end();
    this.session = undefined;
  }

  /** Deletes the server and the key; never throws, returns what could not be done. Its own time limit: a cancelled import still cleans up. */
  async cleanup(signal: AbortSignal, step: (what: string, fn: () => Promise<unknown>) => Promise<void>): Promise<void> {
    if (this.lease) clearInterval(this.lease);
    this.disconnect();
    const o = this.o;
    if (this.machine) {
      const m = this.machine;
      await step(`Could not delete the temporary server ${m.name} (id ${m.id}); the reaper destroys it at its deadline`, async () => {
        await o.provider.destroy(m.id, signal);
        this.log(`Temporary server ${m.name} deleted.`);
      });
    } else if (this.createRequested) {
      // The create may have gone through although its answer never came.
      await step('Could not look for the temporary server', () => o.provider.destroyByRunId(this.runId, signal));
    }
    if (this.keyRequested) {
      await step(`Could not delete the SSH key ${this.keyName}`, async () => {
        const id = this.keyId ?? (await o.api.findSshKey(this.keyName, signal));
        if (id !== undefined) await o.api.deleteSshKey(id, signal);
      });
    }
  }

  /** POST /ssh_keys once; a lost answer or a clash on the name is resolved by looking the name up. */
  private async createKey(labels: Record<string, string>): Promise<number> {
    const o = this.o;
    try {
      return await o.api.createSshKey(this.keyName, this.login.publicKey, labels, o.signal);
    } catch (e) {
      if (o.signal?.aborted) throw o.signal.reason;
      const clash = e instanceof ApiError && e.status === 409;
      if (!(clash || isLostAnswer(e))) throw explain(e);
      const id = await o.api.findSshKey(this.keyName, o.signal);
      if (id === undefined) throw explain(e);
      return id;
    }
  }
}
