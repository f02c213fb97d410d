// Check Setup / `thebacknd doctor`: each prerequisite of a first machine, checked for real, with the action that
// fixes it. Nothing here creates or bills anything: the cloud is only read (regions, images), the cache gets one
// probe object under thebacknd-doctor/ that is deleted again, and Nix only evaluates an expression.
// vscode-free: the extension, the CLI and Run Toplevel's first step share it.

import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { messageOf, redact, UserError } from '../base/errors';
import type { Settings } from '../base/settings';
import { PROVIDER_LABEL, TOKEN_ENV } from '../base/tokens';
import { runNix, INSTALL_HINT, type NixOptions } from '../nix/run';
import { Bucket, checkCacheSettings, substituterUrl, type CacheCredentials } from '../nix/s3';
import { checkSigningKeyFile } from '../nix/sign';
import { checkNix } from '../nix/version';
import type { CloudProvider, Image, ProviderId } from '../providers/types';

export type CheckId = 'token' | 'image' | 'cache' | 'signingKey' | 'nix';
/** ok: ready; missing: a run would fail here; skipped: not needed with these settings, or blocked by an earlier step. */
export type CheckStatus = 'ok' | 'missing' | 'skipped';

/** What fixes a missing step: a command (the extension offers it as a button) or a setting, and the CLI's way. */
export interface SetupAction {
  label: string;
  command?: string;
  setting?: string;
  url?: string;
  /** The same fix for someone at a terminal. */
  cli: string;
}

export interface CheckResult {
  id: CheckId;
  title: string;
  status: CheckStatus;
  /** One sentence: what was found, or what is missing. Never a secret. */
  detail: string;
  fix?: SetupAction;
}

export const PROBE_PREFIX = 'thebacknd-doctor/';

export interface SetupInput {
  providerId: ProviderId;
  /** undefined: no token for this provider. */
  provider: CloudProvider | undefined;
  settings: Settings;
  /** Region and image of the run (default: the provider's settings; an empty image = the newest "thebacknd…" one). */
  region?: string;
  image?: string;
  /** Push credentials of the cache (also read credentials of a private cache). */
  credentials?: CacheCredentials | undefined;
  nix?: NixOptions;
  /** Which steps this use needs (default all): a toplevel from the cache needs no push, a bare image no cache at all. */
  needs?: Partial<Record<'cache' | 'push' | 'nix', boolean>>;
  /** Values to keep out of every message. */
  secrets?: readonly string[];
  /** For the public-URL read (tests); the global fetch otherwise. */
  fetch?: typeof fetch;
}

export const TITLES: Record<CheckId, string> = {
  token: 'Cloud token',
  image: 'Base image',
  cache: 'Binary cache',
  signingKey: 'Signing key',
  nix: 'Local Nix',
};

export const ORDER: readonly CheckId[] = ['token', 'image', 'cache', 'signingKey', 'nix'];

/** Runs every check (each independent of the others' failures, except the image on the token). */
export async function checkSetup(input: SetupInput, signal?: AbortSignal): Promise<CheckResult[]> {
  const token = await checkToken(input, signal);
  const out: CheckResult[] = [token];
  out.push(token.status === 'ok' ? await checkImage(input, signal) : skipped('image', 'Needs an accepted cloud token first.'));
  out.push(await checkCache(input, signal));
  out.push(checkSigningKey(input));
  out.push(await checkLocalNix(input, signal));
  const secrets = [...(input.secrets ?? []), input.credentials?.secretAccessKey ?? '', input.credentials?.sessionToken ?? ''];
  return out.map((r) => ({ ...r, detail: redact(r.detail, secrets) }));
}

/** The steps a run needs: a bare image no cache and no Nix; a toplevel from the cache no push; a build everything. */
export function needsOf(payloadKind: 'configuration' | 'installable' | 'toplevel' | 'binary' | 'bare', transfer: 'cache' | 'ssh'): NonNullable<SetupInput['needs']> {
  const builds = payloadKind === 'configuration' || payloadKind === 'installable';
  return {
    cache: transfer === 'cache' && payloadKind !== 'bare',
    push: transfer === 'cache' && builds,
    nix: builds || (transfer === 'ssh' && payloadKind !== 'bare'),
  };
}

/** The first step a run would fail at. */
export function firstMissing(results: readonly CheckResult[]): CheckResult | undefined {
  return results.find((r) => r.status === 'missing');
}

/** A missing step as the error a run stops with: what is missing, and what fixes it. */
export function missingError(r: CheckResult, audience: 'editor' | 'cli' = 'editor'): UserError {
  const fix = r.fix;
  const how = fix ? (audience === 'cli' ? ` Fix: ${fix.cli}` : ` ${fix.label}.`) : '';
  return new UserError(
    `${r.title}: ${r.detail}${how}`,
    fix?.command ? { kind: 'runCommand', command: fix.command, label: fix.label } : fix?.setting ? { kind: 'openSettings', setting: fix.setting } : undefined,
  );
}

function ok(id: CheckId, detail: string): CheckResult {
  return { id, title: TITLES[id], status: 'ok', detail };
}
function skipped(id: CheckId, detail: string): CheckResult {
  return { id, title: TITLES[id], status: 'skipped', detail };
}
function missing(id: CheckId, detail: string, fix: SetupAction): CheckResult {
  return { id, title: TITLES[id], status: 'missing', detail, fix };
}

const setToken = (p: ProviderId): SetupAction => ({
  label: `Run "Thebacknd: Set ${PROVIDER_LABEL[p]} Token…"`,
  command: p === 'hetzner' ? 'thebacknd.setHetznerToken' : 'thebacknd.setDigitalOceanToken',
  cli: `export ${TOKEN_ENV[p]}=… (or --token-file FILE --provider ${p})`,
});

/** The token is accepted when an authenticated read answers: the regions list, which the image check needs anyway. */
async function checkToken(input: SetupInput, signal?: AbortSignal): Promise<CheckResult> {
  const label = PROVIDER_LABEL[input.providerId];
  if (!input.provider) return missing('token', `No ${label} token is set.`, setToken(input.providerId));
  try {
    const regions = await input.provider.regions(signal);
    return ok('token', `${label} accepted the token (${regions.length} regions visible).`);
  } catch (err) {
    signal?.throwIfAborted();
    return missing('token', `${label} did not accept the token: ${messageOf(err, input.secrets)}`, setToken(input.providerId));
  }
}

async function checkImage(input: SetupInput, signal?: AbortSignal): Promise<CheckResult> {
  const p = input.providerId;
  const label = PROVIDER_LABEL[p];
  const region = input.region ?? input.settings[p].region;
  const wanted = (input.image ?? input.settings[p].image).trim();
  const importIt: SetupAction = {
    label: 'Run "Thebacknd: Import Base Image…"',
    command: 'thebacknd.importImage',
    cli: `thebacknd import-image --provider ${p}`,
  };
  let images: Image[];
  try {
    images = await input.provider!.images(signal);
  } catch (err) {
    signal?.throwIfAborted();
    return missing('image', `Could not list the images on ${label}: ${messageOf(err, input.secrets)}`, importIt);
  }
  const own = images.filter((i) => i.kind !== 'distribution' && /^thebacknd/i.test(i.name)).sort((a, b) => a.name.localeCompare(b.name));
  const image = wanted ? images.find((i) => i.id === wanted) : own.at(-1);
  if (!image) {
    const setting = `thebacknd.${p}.image`;
    return wanted
      ? missing('image', `The image ${wanted} (${setting}) does not exist on ${label}.`, { ...importIt, setting, label: `Import one, or fix ${setting}` })
      : missing('image', `No Thebacknd base image on ${label}.`, importIt);
  }
  const name = `${image.name} (${image.id})`;
  if (image.status && !/^(available|active)$/i.test(image.status)) {
    return missing('image', `The image ${name} is ${image.status}, not available yet.`, {
      label: 'Wait for the import to finish, then check again',
      command: 'thebacknd.checkSetup',
      cli: 'thebacknd doctor',
    });
  }
  if (image.regions && !image.regions.includes(region)) {
    const setting = `thebacknd.${p}.region`;
    const where = image.regions.length ? `only in ${image.regions.join(', ')}` : 'in no region';
    return missing('image', `The image ${name} is ${where}, not in ${region}.`, {
      label: `Choose one of its regions in ${setting}, or import it in ${region}`,
      setting,
      cli: `--region ${image.regions[0] ?? region}`,
    });
  }
  return ok('image', `${name} is available in ${region}.`);
}

const cacheCreds: SetupAction = {
  label: 'Run "Thebacknd: Set Cache Credentials…"',
  command: 'thebacknd.setCacheCredentials',
  cli: 'export AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=…',
};

function hasCache(s: Settings): boolean {
  return Boolean(s.cache.endpoint.trim() || s.cache.publicUrl.trim());
}

async function checkCache(input: SetupInput, signal?: AbortSignal): Promise<CheckResult> {
  const { cache } = input.settings;
  if (!hasCache(input.settings)) return ok('cache', 'No binary cache: closures are copied to each machine over SSH.');
  if (input.needs?.cache === false) return skipped('cache', 'Not needed for this run.');
  const needsPush = input.needs?.push !== false;
  const isPrivate = cache.private || cache.publicUrl.startsWith('s3://');
  try {
    if (needsPush || !cache.publicUrl) checkCacheSettings(cache);
  } catch (err) {
    const setting = err instanceof UserError ? err.fix?.setting : undefined;
    return missing('cache', messageOf(err), {
      label: `Set ${setting ?? 'thebacknd.cache.endpoint'}`,
      setting: setting ?? 'thebacknd.cache.endpoint',
      cli: '--cache-endpoint URL --cache-bucket NAME',
    });
  }
  if (!needsPush && !isPrivate) return ok('cache', `Machines substitute from ${substituterUrl(cache)}.`);
  if (!input.credentials) return missing('cache', `No credentials for the bucket "${cache.bucket}".`, cacheCreds);
  const key = `${PROBE_PREFIX}${randomUUID()}`;
  const body = `thebacknd doctor probe ${key}\n`;
  let bucket: Bucket | undefined;
  try {
    bucket = await Bucket.open({ cache, credentials: input.credentials, maxAttempts: 1, connectTimeoutMs: 5_000 });
    if (!needsPush) {
      // A private cache read with a read-only key: a signed read is the check (present or not, it was allowed).
      await bucket.head('nix-cache-info', signal);
      return ok('cache', `Bucket "${cache.bucket}" is readable with the credentials (private: machines get them over SSH).`);
    }
    await bucket.put(key, body, 'text/plain', signal);
    try {
      if (!isPrivate) {
        const url = `${substituterUrl(cache)}/${key}`;
        const read = await publicRead(url, input.fetch ?? fetch, signal);
        if (read !== body) {
          return missing('cache', `The bucket is writable, but machines cannot read it at ${substituterUrl(cache)} (${read === undefined ? 'no answer' : 'a different answer'}).`, {
            label: 'Make the bucket publicly readable, fix thebacknd.cache.publicUrl, or tick thebacknd.cache.private',
            setting: 'thebacknd.cache.publicUrl',
            cli: '--cache-url URL, or --private-cache',
          });
        }
      }
    } finally {
      await bucket.delete(key).catch(() => undefined);
    }
  } catch (err) {
    signal?.throwIfAborted();
    const e = err instanceof UserError ? err : undefined;
    const fix: SetupAction =
      e?.fix?.kind === 'openSettings' && e.fix.setting
        ? { label: `Fix ${e.fix.setting}`, setting: e.fix.setting, cli: '--cache-endpoint, --cache-bucket, --cache-region' }
        : cacheCreds;
    return missing('cache', messageOf(err, input.secrets), fix);
  } finally {
    bucket?.destroy();
  }
  return ok('cache', `Bucket "${cache.bucket}" is writable${isPrivate ? ' (private: machines get read credentials over SSH)' : ` and public at ${substituterUrl(cache)}`}.`);
}

/** The body at `url` fetched without credentials, or undefined when it does not answer 200. */
async function publicRead(url: string, f: typeof fetch, signal?: AbortSignal): Promise<string | undefined> {
  try {
    const r = await f(url, { signal: signal ?? AbortSignal.timeout(10_000) });
    return r.ok ? await r.text() : undefined;
  } catch {
    signal?.throwIfAborted();
    return undefined;
  }
}

/** The secret key (name:base64(seed‖public)) gives its own public key. */
export function publicKeyOfSecret(text: string): string | undefined {
  const m = /^([^:\s]+):([A-Za-z0-9+/]{86}==)$/.exec(text.trim());
  return m ? `${m[1]}:${Buffer.from(m[2]!, 'base64').subarray(32).toString('base64')}` : undefined;
}

function checkSigningKey(input: SetupInput): CheckResult {
  const { cache } = input.settings;
  if (!hasCache(input.settings)) return skipped('signingKey', 'Not needed without a binary cache (closures over SSH need no signature).');
  if (input.needs?.push === false || input.needs?.cache === false) return skipped('signingKey', 'Not needed for this run.');
  const generate: SetupAction = { label: 'Run "Thebacknd: Generate Signing Key…"', command: 'thebacknd.generateSigningKey', cli: 'thebacknd keygen, then --signing-key-file FILE' };
  try {
    checkSigningKeyFile(cache.signingKeyFile);
  } catch (err) {
    return missing(
      'signingKey',
      messageOf(err),
      cache.signingKeyFile ? { ...generate, label: `${generate.label} or fix thebacknd.cache.signingKeyFile`, setting: 'thebacknd.cache.signingKeyFile' } : generate,
    );
  }
  const file = cache.signingKeyFile;
  const mode = fs.statSync(file).mode & 0o777;
  if (mode & 0o077) {
    return missing('signingKey', `${file} is readable by others (mode ${mode.toString(8).padStart(4, '0')}).`, { label: `Run chmod 600 ${file}`, cli: `chmod 600 ${file}` });
  }
  const derived = publicKeyOfSecret(fs.readFileSync(file, 'utf8'))!;
  const trusted = cache.trustedPublicKey.trim();
  if (trusted && trusted !== derived) {
    return missing('signingKey', `The machines trust ${trusted}, but ${file} signs as ${derived}.`, {
      label: "Set thebacknd.cache.trustedPublicKey to the key's public half (or clear it to derive it)",
      setting: 'thebacknd.cache.trustedPublicKey',
      cli: `--trusted-public-key ${derived}`,
    });
  }
  return ok('signingKey', `${file} (mode 0600) signs as ${derived}${trusted ? ', the key machines trust' : ''}.`);
}

async function checkLocalNix(input: SetupInput, signal?: AbortSignal): Promise<CheckResult> {
  if (input.needs?.nix === false) return skipped('nix', 'Not needed for this run.');
  const install: SetupAction = { label: 'Install Nix', url: 'https://nixos.org/download', cli: INSTALL_HINT };
  const opts: NixOptions = { ...input.nix, ...(signal ? { signal } : {}) };
  let version: string;
  try {
    version = (await checkNix(opts)).text;
  } catch (err) {
    signal?.throwIfAborted();
    return missing('nix', messageOf(err).replace(` ${INSTALL_HINT}`, ''), install);
  }
  // Every call passes --extra-experimental-features nix-command flakes; this proves they work with this Nix.
  try {
    const r = await runNix(['eval', '--expr', 'builtins ? getFlake'], opts, 'Checking flakes');
    if (r.stdout.trim() !== 'true') throw new Error('builtins.getFlake is missing');
  } catch (err) {
    signal?.throwIfAborted();
    return missing('nix', `Nix ${version} is there, but flakes do not work with it: ${messageOf(err)}`, install);
  }
  return ok('nix', `Nix ${version}, flakes work.`);
}
