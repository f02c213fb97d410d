// `thebacknd run [what]`: one machine from the base image, running a flake's toplevel, a store path, a binary or
// nothing; the stages and the boot log on stderr, `NAME IP` alone on stdout. Ctrl-C (or a failure) destroys the
// machine; it is created already tagged with its run id and deadline, so the reaper finds it whatever happens here.

import path from 'node:path';
import { UserError } from '../base/errors';
import { BOUNDS, DEFAULTS } from '../base/settings';
import { PROVIDER_LABEL } from '../base/tokens';
import { findFlakes } from '../nix/flake';
import { isExplicitInstallable, resolveTarget } from '../nix/installable';
import { cacheCredentialsFromEnv, type CacheCredentials } from '../nix/s3';
import { requireStorePath } from '../nix/storePath';
import { checkNix } from '../nix/version';
import type { CloudProvider } from '../providers/types';
import { runToplevel } from '../run/orchestrate';
import { createRunPorts, isS3Url, preflight, transferOf } from '../run/ports';
import { eventLine } from '../run/stages';
import type { Payload, RunEvent, RunRequest } from '../run/types';
import { DEFAULT_BOOT_LOG_COMMAND } from '../ssh/boot-log';
import { loadMachineKeys } from '../ssh/keys';
import { sizeSummary } from '../workers/cost';
import { flags, str, strings, UsageError, type Args, type Values } from './args';
import { CACHE_OPTIONS, MACHINE_CACHE_OPTIONS, settingsFromFlags } from './cache-flags';
import type { CommandSpec } from './command';
import type { CliContext } from './context';
import { wholeNumber } from './numbers';
import { rememberMachine } from './run-state';
import { cliStateDir, IMAGE_ENV, PLACEMENT_OPTIONS } from './placement';
import { loadReaperState } from '../cloud-reaper/local-state';
import { checkSetup, firstMissing, missingError, needsOf } from '../setup/checks';

const DETAILS = `run [options] [configuration-name | installable | store-path]

Creates one machine from the Thebacknd base image and makes it run what you name, printing the stages and the
boot log on stderr and "NAME IP" on stdout once the machine has switched:
  (nothing)            the toplevel of the flake's only nixosConfigurations entry: built, signed, pushed
  NAME                 .#nixosConfigurations.NAME.config.system.build.toplevel: built, signed, pushed
  INSTALLABLE          anything nix build accepts that builds a NixOS toplevel
  /nix/store/…         a toplevel already in the binary cache (without a cache: in the local store)
  /nix/store/…/bin/x   a program (or --binary PATH): the machine runs it, then powers itself off
  --bare               the base image as it is
Ctrl-C or a failure destroys the machine. Without a binary cache (no --cache-endpoint / --cache-url), the closure
is copied to the machine over SSH instead.

Options:
  -p, --provider P          digitalocean or hetzner (default: the only one with a token, else digitalocean)
  --region R                region (default: ${DEFAULTS.hetzner.region} / ${DEFAULTS.digitalocean.region})
  --size S                  server type (default: ${DEFAULTS.hetzner.size} / ${DEFAULTS.digitalocean.size})
  --image I                 the Thebacknd base image (default: $${IMAGE_ENV.hetzner} / $${IMAGE_ENV.digitalocean}, else the
                            provider's only image named thebacknd…)
  --minutes N               deadline: the machine is destroyed N minutes after creation (default ${DEFAULTS.maxAgeMinutes})
  --keep-on-failure         keep the machine when its boot fails, for debugging (still destroyed at its deadline)
  --binary PATH             run this program (absolute, or relative to the store path given)
  --bare                    the bare base image
  --flake DIR               the flake folder (default: the current folder)
  --state-dir DIR           where machine keys live (default: $THEBACKND_STATE_DIR, else ~/.local/state/thebacknd)
  --boot-log-command CMD    remote command that prints the boot log (default: ${DEFAULT_BOOT_LOG_COMMAND})
  --token-file F            read the token of --provider from F (default: DIGITALOCEAN_ACCESS_TOKEN / HCLOUD_TOKEN)
  --endpoint URL            API base URL of --provider, e.g. the local emulator
  -h, --help                show this help

Binary cache (flag, else environment variable):
  --cache-endpoint URL      THEBACKND_CACHE_ENDPOINT      S3-compatible endpoint the closure is pushed to
  --cache-bucket NAME       THEBACKND_CACHE_BUCKET
  --cache-region REGION     THEBACKND_CACHE_REGION        (default us-east-1)
  --cache-url URL           THEBACKND_CACHE_PUBLIC_URL    what machines substitute from (default: endpoint/bucket)
  --trusted-public-key KEY  THEBACKND_CACHE_TRUSTED_PUBLIC_KEY  (default: derived from the signing key)
  --signing-key-file FILE   THEBACKND_SIGNING_KEY_FILE
  --private-cache           machines need read credentials (implied by an s3:// cache URL); they are sent over
                            the pinned SSH connection into a root-only file, never put in user-data
  --no-cache                copy the closure over SSH even when a cache is configured
Push credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY. Read credentials of a private cache:
THEBACKND_CACHE_READ_ACCESS_KEY_ID and THEBACKND_CACHE_READ_SECRET_ACCESS_KEY, else the push credentials.
`;

const OPTIONS = { ...PLACEMENT_OPTIONS, ...strings('minutes', 'binary', 'boot-log-command'), ...flags('bare'), ...CACHE_OPTIONS, ...MACHINE_CACHE_OPTIONS };

export const RUN_COMMAND: CommandSpec = {
  name: 'run',
  summary: 'run a nixosConfiguration, store path or binary on a new machine; print its name and IP',
  usage: DETAILS,
  options: OPTIONS,
  cancel: { said: 'cancelled.' },
  run: runCommand,
};

async function runCommand(cli: CliContext, { values, positionals }: Args): Promise<number> {
  const io = cli.io;
  if (positionals.length > 1) throw new UsageError('run: one thing to run at a time.');
  if (values.bare && (positionals.length || values.binary !== undefined)) throw new UsageError('run: --bare runs the base image as it is: name nothing else.');
  const minutesText = str(values, 'minutes');
  const { min, max } = BOUNDS.maxAgeMinutes;
  const minutes = minutesText === undefined ? DEFAULTS.maxAgeMinutes : wholeNumber(minutesText, '--minutes', min, max);

  const settings = { ...settingsFromFlags(values, io.env), maxAgeMinutes: minutes };
  const cacheCredentials = cacheCredentialsFromEnv(io.env);
  const readCredentials = readCredentialsFromEnv(io.env);
  const { secrets, signal } = cli;
  const provider = cli.oneProvider();
  const flakeDir = path.resolve(str(values, 'flake') ?? process.cwd());
  const nix = { env: io.env, cwd: flakeDir, signal };
  const payload = await payloadOf(values, positionals[0], flakeDir, nix);
  if (payload.kind === 'configuration' || payload.kind === 'installable') await checkNix(nix);
  const transfer = transferOf(settings);
  const req: RunRequest = {
    payload,
    placement: {
      provider: provider.id,
      region: str(values, 'region') ?? settings[provider.id].region,
      size: str(values, 'size') ?? settings[provider.id].size,
      image: str(values, 'image') ?? io.env[IMAGE_ENV[provider.id]] ?? (await baseImage(provider, signal)),
    },
    maxAgeMinutes: minutes,
    transfer,
    cachePrivate: transfer === 'cache' && (Boolean(values['private-cache']) || isS3Url(settings.cache.publicUrl)),
    onFailure: values['keep-on-failure'] ? 'keep' : 'destroy',
  };
  const keysRoot = cliStateDir(io.env, str(values, 'state-dir'));
  // A cloud reaper deployed from here: the machine gets its destroy-self code (see `thebacknd reaper deploy`).
  const reaper = loadReaperState(keysRoot);
  const bootLogCommand = str(values, 'boot-log-command');
  const ports = createRunPorts({
    ...(reaper ? { reaper } : {}),
    provider,
    settings,
    keysRoot,
    flakeDir,
    nix: { env: io.env },
    ...(cacheCredentials ? { cacheCredentials } : {}),
    ...(readCredentials ? { cacheReadCredentials: readCredentials } : {}),
    pushCredentialsReadToo: true, // documented: without THEBACKND_CACHE_READ_*, machines get the push key
    ...(bootLogCommand ? { bootLogCommand } : {}),
  });
  // Every prerequisite this run needs, checked before anything is built or created (src/setup/checks.ts).
  const first = firstMissing(
    await checkSetup(
      {
        providerId: provider.id,
        provider,
        settings,
        region: req.placement.region,
        image: req.placement.image,
        credentials: cacheCredentials ?? readCredentials,
        nix: { env: io.env },
        needs: needsOf(payload.kind, transfer),
        secrets,
      },
      signal,
    ),
  );
  if (first) throw missingError(first, 'cli');
  preflight(
    { settings, pushCredentialsReadToo: true, ...(cacheCredentials ? { cacheCredentials } : {}), ...(readCredentials ? { cacheReadCredentials: readCredentials } : {}) },
    req,
  );

  const size = (await provider.sizes(signal)).find((s) => s.slug === req.placement.size);
  io.stderr.write(
    `${PROVIDER_LABEL[provider.id]} ${req.placement.size} in ${req.placement.region}${size ? `: ${sizeSummary(size, req.placement.region)}` : ''}; ` +
      `destroyed after ${minutes} min. ${transfer === 'cache' ? `Machines substitute from the binary cache${req.cachePrivate ? ' (private)' : ''}.` : 'No binary cache: the closure goes over SSH.'}\n`,
  );
  const print = printer(io.stderr);
  const result = await runToplevel(ports, req, signal, (e) => {
    if (e.type === 'machine') rememberMachine(keysRoot, e.machine);
    print(e);
  });
  const ip = result.machine.ipv4 ?? result.machine.ipv6 ?? '';
  const keys = await loadMachineKeys(keysRoot, result.machine.runId ?? '');
  if (result.outcome.poweredOff) {
    io.stderr.write(`${result.machine.name} ran the program and powered itself off; the reaper destroys it.\n`);
  } else if (keys) {
    io.stderr.write(
      `Connect: ssh -i ${keys.loginKeyPath} -o UserKnownHostsFile=${keys.knownHostsPath} -o StrictHostKeyChecking=yes root@${ip}\n` +
        `Destroy: thebacknd destroy ${result.machine.name} (or wait for its deadline, ${result.machine.deadline ?? `${minutes} min`})\n`,
    );
  }
  io.stdout.write(`${result.machine.name} ${ip}\n`);
  return 0;
}

export const RUN_COMMANDS: CommandSpec[] = [RUN_COMMAND];

function readCredentialsFromEnv(env: NodeJS.ProcessEnv): CacheCredentials | undefined {
  const accessKeyId = env.THEBACKND_CACHE_READ_ACCESS_KEY_ID?.trim();
  const secretAccessKey = env.THEBACKND_CACHE_READ_SECRET_ACCESS_KEY?.trim();
  return accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined;
}

async function payloadOf(values: Values, arg: string | undefined, flakeDir: string, nix: { env: NodeJS.ProcessEnv; cwd: string; signal: AbortSignal }): Promise<Payload> {
  if (values.bare) return { kind: 'bare' };
  const bin = str(values, 'binary');
  if (bin !== undefined) {
    if (bin.startsWith('/')) {
      const ref = requireStorePath(bin);
      if (ref.kind !== 'binary') throw new UserError(`--binary ${bin} is a store path, not a program inside one (e.g. ${bin}/bin/NAME).`);
      if (arg && requireStorePath(arg).storePath !== ref.storePath) throw new UserError(`--binary ${bin} is not inside ${arg}.`);
      return { kind: 'binary', storePath: ref.storePath, binary: ref.path };
    }
    if (!arg) throw new UserError('--binary with a relative path needs the store path it is in.');
    const ref = requireStorePath(arg);
    const inside = requireStorePath(`${ref.storePath}/${bin.replace(/^\.?\/+/, '')}`);
    if (inside.kind !== 'binary') throw new UserError(`--binary ${bin} names no program inside ${ref.storePath}.`);
    return { kind: 'binary', storePath: ref.storePath, binary: inside.path };
  }
  if (arg?.startsWith('/nix/store/')) {
    const ref = requireStorePath(arg);
    return ref.kind === 'binary' ? { kind: 'binary', storePath: ref.storePath, binary: ref.path } : { kind: 'toplevel', storePath: ref.storePath };
  }
  if (!(arg && isExplicitInstallable(arg)) && findFlakes([flakeDir]).length === 0) {
    throw new UserError(`No flake.nix in ${flakeDir}: use --flake DIR, name an installable or a store path, or --bare.`);
  }
  const target = await resolveTarget(arg, flakeDir, nix);
  return target.config ? { kind: 'configuration', flakeRef: path.resolve(flakeDir), name: target.config } : { kind: 'installable', installable: target.installable };
}

/** The provider's own base image when --image is not given: the one image whose name starts with "thebacknd". */
async function baseImage(provider: CloudProvider, signal: AbortSignal): Promise<string> {
  const own = (await provider.images(signal)).filter((i) => /^thebacknd/i.test(i.name) && i.kind !== 'distribution');
  if (own.length === 1) return own[0]!.id;
  const env = IMAGE_ENV[provider.id];
  if (own.length === 0) throw new UserError(`No Thebacknd base image on ${PROVIDER_LABEL[provider.id]}: import one (thebacknd import-image) and pass --image ID or set ${env}.`);
  throw new UserError(`Several Thebacknd base images on ${PROVIDER_LABEL[provider.id]} (${own.map((i) => `${i.id} ${i.name}`).join(', ')}): pass --image ID or set ${env}.`);
}

/** Stages and log lines as they come; push progress at most every 2 s. */
function printer(out: NodeJS.WritableStream): (e: RunEvent) => void {
  let lastProgress = 0;
  return (e) => {
    if (e.type === 'progress') {
      const now = Date.now();
      if (now - lastProgress < 2000 && e.fraction !== 1) return;
      lastProgress = now;
    }
    if (e.type === 'machine' && e.machine.ipv4 === undefined && e.machine.ipv6 === undefined) {
      out.write(`  ${e.machine.name} (${e.machine.id}), run id ${e.machine.runId ?? '?'}, deadline ${e.machine.deadline ?? '?'}\n`);
      return;
    }
    const line = eventLine(e);
    if (line !== undefined) out.write(`${line}\n`);
  };
}
