// The real ports of a run (src/run/orchestrate.ts): Nix builds, signs and pushes; per-machine keys live on disk;
// the user-data follows the image's contract (src/agent/user-data.ts); and everything that reaches the machine goes
// over SSH pinned to the host key generated here for it — ssh2 for the waits, the credentials and the boot log,
// Nix's own ssh (with the key in the store URL) for the closure. vscode-free: the extension, the CLI and the
// end-to-end tests plug the same ports in.

import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { describeAgentEvent, isTerminal, type AgentEvent } from '../agent/log';
import { UserError } from '../base/errors';
import type { Settings } from '../base/settings';
import { buildUserData, serializeUserData, type BootTarget } from '../agent/user-data';
import { reaperUserData, type ReaperLink } from '../cloud-reaper/link';
import { build } from '../nix/build';
import { push, type PushProgress } from '../nix/push';
import { runNix, type NixOptions } from '../nix/run';
import { checkCacheSettings, substituterUrl, type CacheCredentials } from '../nix/s3';
import { checkSigningKeyFile, signClosure } from '../nix/sign';
import type { CloudProvider } from '../providers/types';
import { streamBootLog } from '../ssh/boot-log';
import { createMachineKeys, removeMachineKeys, requireMachineKeys, type MachineKeys as StoredKeys } from '../ssh/keys';
import { storeUrl, writeKnownHosts } from '../ssh/known-hosts';
import { SshSession, sshTargetFor, waitForSsh, type SshTarget } from '../ssh/session';
import { installableOf } from './orchestrate';
import type { BootOutcome, MachineKeys, Payload, RunPorts, RunRequest } from './types';

/** The agent writes its stage lines and the switch's output here, in both boot phases (nix/agent). */
import { DEFAULT_BOOT_LOG_COMMAND } from '../ssh/boot-log';
/** Root-only (the agent makes /run/thebacknd 0700); on the image /run is a tmpfs, so nothing survives a power-off. */
export const CREDENTIALS_FILE = '/run/thebacknd/cache-credentials';
/** Written (with the store path) once a closure copied over SSH is complete; the agent waits for it. */
export const CLOSURE_READY_FILE = '/run/thebacknd/closure-ready';

export interface PortsOptions {
  provider: CloudProvider;
  settings: Settings;
  /** Per-machine key directories live here (`<keysRoot>/machines/<run id>`, 0700); removed with the machine. */
  keysRoot: string;
  /** Push credentials: they write to the cache and never go to a machine, unless pushCredentialsReadToo. */
  cacheCredentials?: CacheCredentials;
  /** A read-only key for a private cache: what machines get. */
  cacheReadCredentials?: CacheCredentials;
  /** The CLI's documented fallback (no THEBACKND_CACHE_READ_* set): machines get the push key. Never the extension. */
  pushCredentialsReadToo?: boolean;
  flakeDir?: string;
  /** Remote command printing the agent's log from its start, then following it. */
  bootLogCommand?: string;
  /** How nix runs here (environment, binary). */
  nix?: Pick<NixOptions, 'env' | 'nixBin'>;
  /** How long SSH may take to answer, first and after a drop while following the boot (default 10 min). */
  sshTimeoutMs?: number;
  /** Pause between SSH attempts (default 2 s). */
  sshRetryMs?: number;
  /** While waiting on SSH, how often to ask the cloud whether the machine powered itself off (default 10 s). */
  powerPollMs?: number;
  /** The deployed cloud reaper: each machine gets its destroy-self code (never the secret) in user-data. */
  reaper?: ReaperLink;
}

/** A cache is configured when machines have somewhere to substitute from; otherwise the closure goes over SSH. */
export function transferOf(s: Settings): 'cache' | 'ssh' {
  return s.cache.endpoint.trim() || s.cache.publicUrl.trim() ? 'cache' : 'ssh';
}

/** An `s3://` substituter always needs credentials (Nix signs S3 requests); an HTTP(S) one only when it says so. */
export function isS3Url(url: string): boolean {
  return url.startsWith('s3://');
}

/** The public key machines trust: the setting, else derived from the secret signing key (name:base64(seed‖pub)). */
export function trustedPublicKeyOf(s: Settings): string {
  const set = s.cache.trustedPublicKey.trim();
  if (set) return set;
  const file = s.cache.signingKeyFile;
  if (file) {
    try {
      const m = /^([^:\s]+):([A-Za-z0-9+/]{86}==)$/.exec(fs.readFileSync(file, 'utf8').trim());
      if (m) return `${m[1]}:${Buffer.from(m[2]!, 'base64').subarray(32).toString('base64')}`;
    } catch {
      // unreadable: the message below says what to set
    }
  }
  throw new UserError('Machines need the cache\'s public key: set thebacknd.cache.trustedPublicKey (or thebacknd.cache.signingKeyFile).', {
    kind: 'openSettings',
    setting: 'thebacknd.cache.trustedPublicKey',
  });
}

/** The program a binary payload names: an absolute path inside the store path, or a path relative to it. */
export function binaryPathOf(p: Extract<Payload, { kind: 'binary' }>): string {
  return p.binary.startsWith('/') ? p.binary : `${p.storePath}/${p.binary.replace(/^\.?\/+/, '')}`;
}

/**
 * The credentials file the agent reads: a netrc for an HTTP(S) cache (Nix's netrc-file, curl's --netrc-file), an AWS
 * shared-credentials file for an s3:// one. Its content only ever travels over the pinned SSH connection.
 */
export function credentialsFileFor(cacheUrl: string, c: CacheCredentials, cache?: Pick<Settings['cache'], 'endpoint' | 'bucket' | 'forcePathStyle'>): string {
  if (isS3Url(cacheUrl)) {
    const token = c.sessionToken ? `aws_session_token = ${c.sessionToken}\n` : '';
    return `[default]\naws_access_key_id = ${c.accessKeyId}\naws_secret_access_key = ${c.secretAccessKey}\n${token}`;
  }
  if (/\s/.test(c.accessKeyId + c.secretAccessKey)) throw new UserError('Cache read credentials with spaces cannot go in a netrc file.');
  const host = new URL(cacheUrl).hostname;
  // The push (S3) key as a netrc password goes only to the cache's own host (the endpoint's, or the bucket's under it).
  if (cache?.endpoint.trim()) {
    const endpointHost = new URL(cache.endpoint).hostname;
    if (host !== endpointHost && host !== `${cache.bucket}.${endpointHost}`) {
      throw new UserError(`The cache's public URL is on ${host}, not on the cache's host ${endpointHost}: its read credentials are not sent there. Use a public URL on ${endpointHost}, or an s3:// one.`);
    }
  }
  return `machine ${host} login ${c.accessKeyId} password ${c.secretAccessKey}\n`;
}

/**
 * Refuses, before anything is built or created, a run whose settings cannot work: a build to push without a cache,
 * signing key or credentials; a store path for machines that would not know which key to trust; a private cache
 * without read credentials.
 */
/**
 * What a machine of a private cache gets: the read key, or (CLI fallback only) the push key, which as a netrc
 * password may only go to the cache's own S3 host (`pushKeyHost`): a read key was given for the public URL itself.
 */
function readCredentialsOf(o: Pick<PortsOptions, 'settings' | 'cacheCredentials' | 'cacheReadCredentials' | 'pushCredentialsReadToo'>): { creds: CacheCredentials; pushKeyHost?: Settings['cache'] } | undefined {
  if (o.cacheReadCredentials) return { creds: o.cacheReadCredentials };
  return o.pushCredentialsReadToo && o.cacheCredentials ? { creds: o.cacheCredentials, pushKeyHost: o.settings.cache } : undefined;
}

const NO_READ_CREDENTIALS =
  'The cache is private but no read credentials are set: run "Thebacknd: Set Cache Read Credentials…" with a read-only key (the push credentials never go to a machine).';

export function preflight(o: Pick<PortsOptions, 'settings' | 'cacheCredentials' | 'cacheReadCredentials' | 'pushCredentialsReadToo'>, req: RunRequest): void {
  if (req.transfer !== 'cache') return;
  const { cache } = o.settings;
  if (cache.publicUrl.trim()) {
    let u: URL | undefined;
    try {
      u = new URL(cache.publicUrl.trim());
    } catch {
      throw new UserError(`thebacknd.cache.publicUrl is not a URL: "${cache.publicUrl}".`);
    }
    // In user-data, which anything on the machine and the cloud can read.
    if (u.username || u.password) throw new UserError('thebacknd.cache.publicUrl holds a user name or password (user:pass@): remove it; a private cache gets read credentials over SSH instead.');
  }
  if (installableOf(req)) {
    checkCacheSettings(cache);
    checkSigningKeyFile(cache.signingKeyFile);
    if (!o.cacheCredentials) {
      throw new UserError('No binary cache credentials: run "Thebacknd: Set Cache Credentials…" (CLI: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).');
    }
  }
  if (req.payload.kind !== 'bare') {
    if (!cache.publicUrl) checkCacheSettings(cache); // the substituter URL derives from endpoint and bucket
    trustedPublicKeyOf(o.settings);
  }
  if (req.cachePrivate) {
    const read = readCredentialsOf(o);
    if (!read) throw new UserError(NO_READ_CREDENTIALS);
    credentialsFileFor(substituterUrl(cache), read.creds, read.pushKeyHost); // refuses a foreign host now, before anything is created
  }
}

export function createRunPorts(o: PortsOptions): RunPorts {
  const { settings } = o;
  const nixOpts = (signal: AbortSignal, onLog?: (l: string) => void): NixOptions => ({
    ...o.nix,
    ...(o.flakeDir ? { cwd: o.flakeDir } : {}),
    signal,
    ...(onLog ? { onLog } : {}),
  });
  const stored = (keys: MachineKeys): Promise<StoredKeys> => requireMachineKeys(o.keysRoot, path.basename(keys.dir));
  const target = async (ip: string, keys: MachineKeys): Promise<SshTarget> => sshTargetFor(await stored(keys), ip);
  const sshWait = { deadlineMs: o.sshTimeoutMs ?? 10 * 60_000, intervalMs: o.sshRetryMs ?? 2_000 };
  /** Addresses of machines seen powered off: a binary that finished before SSH answered, or a shutdown mid-boot. */
  const poweredOff = new Set<string>();

  /**
   * Runs `body` while polling the cloud: when the machine at `ip` is off, `body`'s signal aborts and this resolves
   * with 'off' instead of waiting out SSH timeouts against a machine that will never answer again.
   */
  const unlessPoweredOff = async <T>(ip: string, signal: AbortSignal, body: (s: AbortSignal) => Promise<T>): Promise<T | 'off'> => {
    const stop = new AbortController();
    const both = AbortSignal.any([signal, stop.signal]);
    const watch = (async () => {
      while (!both.aborted) {
        await delay(o.powerPollMs ?? 10_000, undefined, { signal: both }).catch(() => undefined);
        if (both.aborted) return;
        const list = await o.provider.list(both).catch(() => undefined);
        const m = list?.machines.find((x) => x.ipv4 === ip || x.ipv6 === ip);
        if (m?.status === 'off') {
          poweredOff.add(ip);
          stop.abort();
        }
      }
    })();
    try {
      return await body(both);
    } catch (err) {
      if (poweredOff.has(ip) && !signal.aborted) return 'off';
      throw err;
    } finally {
      stop.abort();
      await watch;
    }
  };

  /** Runs one command on the machine with `input` on its stdin (never on a command line, never logged). */
  const runRemote = async (ip: string, keys: MachineKeys, command: string, input: string, what: string, signal: AbortSignal): Promise<void> => {
    const session = await SshSession.connect(await target(ip, keys), { signal });
    try {
      const r = await session.run(command, { stdin: input, signal });
      signal.throwIfAborted();
      if (r.code !== 0) throw new UserError(`Could not ${what} on ${ip} (exit status ${r.code ?? 'unknown'}): ${r.stderr.trim().split('\n')[0] ?? ''}`);
    } finally {
      session.close();
    }
  };
  const writeRootFile = (file: string): string =>
    `umask 077 && mkdir -p ${path.posix.dirname(file)} && cat > ${file}.tmp && mv -f ${file}.tmp ${file}`;

  return {
    provider: o.provider,

    async build(installable, signal, onLine) {
      return (await build(installable, nixOpts(signal, onLine))).path;
    },

    async sign(storePath, signal) {
      await signClosure([storePath], settings.cache.signingKeyFile, nixOpts(signal));
    },

    async push(storePath, signal, onProgress) {
      if (!o.cacheCredentials) {
        throw new UserError('No binary cache credentials: run "Thebacknd: Set Cache Credentials…" (CLI: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).');
      }
      await push([storePath], {
        cache: settings.cache,
        credentials: o.cacheCredentials,
        sign: false, // the sign stage did it
        ...(o.nix ? { nix: o.nix } : {}),
        signal,
        onProgress: (p) => onProgress(...pushMessage(p)),
      });
    },

    async newKeys(runId) {
      const k = await createMachineKeys(o.keysRoot, runId);
      return { dir: k.dir, loginPrivateKeyPath: k.loginKeyPath, loginPublicKey: k.loginPublicKey, hostPrivateKey: k.hostPrivateKey, hostPublicKey: k.hostPublicKey };
    },

    removeKeys: (runId) => removeMachineKeys(o.keysRoot, runId),

    userData({ payload, storePath, keys, cachePrivate, transfer, runId }) {
      const overSsh = (transfer ?? transferOf(settings)) === 'ssh';
      let target: BootTarget;
      if (payload.kind === 'bare') target = { kind: 'bare' };
      else if (payload.kind === 'binary') target = { kind: 'binary', path: binaryPathOf(payload) };
      else if (storePath) target = { kind: 'toplevel', path: storePath };
      else throw new UserError('Nothing to run: no store path was built or given.');
      const cache =
        target.kind === 'bare' || overSsh
          ? undefined
          : { url: substituterUrl(settings.cache), trustedPublicKey: trustedPublicKeyOf(settings), private: cachePrivate };
      return serializeUserData(
        buildUserData({
          hostKey: { private: keys.hostPrivateKey, public: keys.hostPublicKey },
          authorizedKeys: [keys.loginPublicKey],
          ...(cache ? { cache } : {}),
          target,
          closure: overSsh ? 'ssh' : 'cache',
          ...(o.reaper && runId ? { reaper: reaperUserData(o.reaper, runId) } : {}),
        }),
      );
    },

    async waitSsh(ip, keys, signal) {
      const k = await stored(keys);
      await writeKnownHosts(k, ip); // for OpenSSH clients (Remote-SSH, a terminal): the same pinned key
      // A wrong host key fails at once: the image installs the pinned key before sshd starts, so another key is
      // someone else answering on that address.
      const t = await sshTargetFor(k, ip);
      const session = await unlessPoweredOff(ip, signal, (s) => waitForSsh(t, { ...sshWait, hostKeyMismatch: 'fail', signal: s }));
      if (session !== 'off') session.close(); // off: followBoot says so
    },

    async deliverCredentials(ip, keys, signal) {
      const read = readCredentialsOf(o);
      if (!read) throw new UserError(NO_READ_CREDENTIALS);
      const content = credentialsFileFor(substituterUrl(settings.cache), read.creds, read.pushKeyHost);
      await runRemote(ip, keys, writeRootFile(CREDENTIALS_FILE), content, 'write the cache credentials', signal);
    },

    async copyClosure(ip, keys, storePath, signal, onLine) {
      // ssh-ng (the remote nix-daemon) with --no-check-sigs: root is a trusted user there, and a closure built here
      // for a machine without a cache is usually unsigned. Nix's ssh gets the pinned key from the URL.
      const url = storeUrl(ip, await stored(keys), { scheme: 'ssh-ng' });
      await runNix(['copy', '--no-check-sigs', '--to', url, storePath], nixOpts(signal, onLine), `Copying ${storePath} to ${ip}`);
      await runRemote(ip, keys, writeRootFile(CLOSURE_READY_FILE), `${storePath}\n`, 'mark the closure as copied', signal);
    },

    async followBoot(ip, keys, signal, onLine) {
      if (poweredOff.has(ip)) return { ok: false, poweredOff: true, reason: 'the machine powered itself off before SSH answered; its boot log is gone with it' };
      const t = await target(ip, keys);
      let first = true;
      const end = await unlessPoweredOff(ip, signal, (s) =>
        streamBootLog(
          {
            target: t,
            command: o.bootLogCommand ?? DEFAULT_BOOT_LOG_COMMAND,
            until: isTerminal,
            waitDeadlineMs: sshWait.deadlineMs,
            retryIntervalMs: sshWait.intervalMs,
            connect: { hostKeyMismatch: 'fail' },
            signal: s,
          },
          (e) => {
            if (e.kind === 'line') onLine(e.line);
            // SSH already answered in wait-ssh: only later waits (a reconnect) are news.
            else if (e.kind === 'status' && e.status !== 'connected' && !(first && e.status === 'waiting')) onLine(`── ${e.message}`);
            if (e.kind === 'status' && e.status === 'connected') first = false;
          },
        ),
      );
      signal.throwIfAborted();
      if (end === 'off' || (end.reason === 'aborted' && poweredOff.has(ip))) {
        return { ok: false, poweredOff: true, reason: 'the machine powered itself off before its boot log ended' };
      }
      if (end.reason === 'finished') return outcomeOf(end.stage);
      if (end.reason === 'exited') return { ok: false, reason: `the boot log on ${ip} ended before the agent finished (${end.code ?? end.signal})` };
      throw signal.reason ?? new UserError('Following the boot log was cancelled.');
    },

    sleep: (ms, signal) => delay(ms, undefined, { signal }),
  };
}

/** The run's verdict from the agent's last stage line. */
export function outcomeOf(ev: AgentEvent): BootOutcome {
  if (ev.stage === 'done') return { ok: true };
  if (ev.stage === 'poweroff') {
    return ev.exitCode === 0 ? { ok: true, poweredOff: true } : { ok: false, poweredOff: true, reason: `the program exited with status ${ev.exitCode}; the machine powered off` };
  }
  if (ev.stage === 'failed') return { ok: false, reason: `${describeAgentEvent(ev)}${ev.path ? ` (${ev.path})` : ''}` };
  return { ok: false, reason: describeAgentEvent(ev) };
}

function pushMessage(p: Readonly<PushProgress>): [string, number?] {
  const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;
  switch (p.phase) {
    case 'checking':
      return [`Checking ${p.pathsChecked}/${p.pathsTotal} paths in the cache`, p.pathsTotal ? p.pathsChecked / p.pathsTotal : undefined];
    case 'uploading':
      return [`Uploading ${p.pathsUploaded}/${p.pathsMissing} paths (${mib(p.bytesUploaded)} sent)`, p.pathsMissing ? p.pathsUploaded / p.pathsMissing : undefined];
    case 'done':
      return ['The closure is in the cache', 1];
    default:
      return ['Preparing the push'];
  }
}
