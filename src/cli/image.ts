// `thebacknd import-image --provider P [--file F]`: imports the Thebacknd base image into a cloud and prints its id
// on stdout (progress on stderr), for thebacknd.<provider>.image or `thebacknd create --image`.

import fs from 'node:fs';
import path from 'node:path';
import { redact, UserError } from '../base/errors';
import { DEFAULTS } from '../base/settings';
import { PROVIDERS, TOKEN_ENV } from '../base/tokens';
import { BUILD_WORKER_SIZE, DEFAULT_IMAGE_FILE, defaultImagePath, importImage, localImageBuild, shippedFlakeDir } from '../image';
import { flags, str, strings, UsageError, type Args } from './args';
import { CACHE_OPTIONS, cacheFlagsOf, cacheFromFlags, credentialsFromEnv, oldCacheSpellings, S3_STYLE_OPTIONS } from './cache-flags';
import type { CommandSpec } from './command';
import { ENDPOINT_ENV, type CliContext } from './context';

const DETAILS = `import-image --provider digitalocean|hetzner [options]

Imports the Thebacknd base image and prints its id (for thebacknd.<provider>.image or create --image).
  digitalocean  uploads the image to the cache bucket, imports it from a presigned link, removes the upload
  hetzner       writes it to the disk of a temporary server (thebacknd-N) in rescue mode over SSH, snapshots
                the disk, deletes the server and its SSH key; the rescue host key is accepted on first use

Options:
  -p, --provider P        digitalocean or hetzner (required)
  -f, --file F            image file or build output (default ./${DEFAULT_IMAGE_FILE.digitalocean} / ./${DEFAULT_IMAGE_FILE.hetzner})
      --name N            image name (default thebacknd-base-<date>-<time>, UTC)
      --region R          DigitalOcean region to import into (default ${DEFAULTS.digitalocean.region});
                          Hetzner location of the temporary server (default ${DEFAULTS.hetzner.region})
      --size S            Hetzner server type of the temporary server (default ${DEFAULTS.hetzner.size}); the snapshot
                          then boots on types with at least its disk. With --build-on-worker: the build server's
                          size too (default ${BUILD_WORKER_SIZE.digitalocean} / ${BUILD_WORKER_SIZE.hetzner}, 4 GiB: a build does not fit in 1 GiB)
      --device D          Hetzner: the disk in the rescue system (default /dev/sda)
      --token-file F      read the token from F (default ${TOKEN_ENV.digitalocean} / ${TOKEN_ENV.hetzner})
      --endpoint URL      API base URL, e.g. the local emulator (default ${ENDPOINT_ENV.digitalocean} / ${ENDPOINT_ENV.hetzner})
      --build-on-worker   build the image on a temporary server (stock Debian) and import it from there, for a
                          computer whose Nix cannot build x86_64-linux; offered when there is no image file
      --image-flake DIR   the image flake built there (default: the nix/ folder shipped with Thebacknd)
      --json              print {"provider","imageId","name","setting"} instead of the id
  -h, --help              show this help

DigitalOcean cache bucket (flag, else environment variable):
  --cache-endpoint URL      THEBACKND_CACHE_ENDPOINT
  --cache-bucket NAME       THEBACKND_CACHE_BUCKET     (--bucket until the next release, with a warning)
  --cache-region REGION     THEBACKND_CACHE_REGION     (default us-east-1)
  --checksum-mode MODE      THEBACKND_CACHE_CHECKSUM_MODE  WHEN_REQUIRED (default) or WHEN_SUPPORTED
  --virtual-host-style      bucket.host URLs instead of host/bucket
Credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
`;

/** --provider, --token-file, --endpoint and --help are main's global options. */
const OPTIONS = {
  file: { type: 'string', short: 'f' },
  ...strings('name', 'region', 'size', 'device'),
  ...flags('json', 'build-on-worker'),
  ...strings('image-flake'),
  ...CACHE_OPTIONS,
  ...S3_STYLE_OPTIONS,
} as const;

async function importImageCommand(cli: CliContext, { values, positionals }: Args): Promise<number> {
  const io = cli.io;
  if (positionals.length) throw new UsageError(`import-image takes options only (got "${positionals[0]}").`);
  const provider = cli.chosen;
  if (!provider) throw new UsageError(`import-image: --provider must be ${PROVIDERS.join(' or ')}.`);
  const given = str(values, 'file');
  const file = given ? path.resolve(given) : defaultImagePath(process.cwd(), provider);
  const name = str(values, 'name');
  const device = str(values, 'device');
  const secrets = cli.secrets;
  const token = cli.token(provider);
  const flakeDir = await workerFlake(cli, values, file, given !== undefined);
  const r = await importImage({
    provider,
    file,
    ...(flakeDir ? { buildOnWorker: { flakeDir } } : {}),
    ...(name ? { name } : {}),
    token,
    endpoint: cli.endpoint(provider),
    settings: { ...DEFAULTS, cache: cacheFromFlags(cacheFlagsOf(values), io.env) },
    region: str(values, 'region'),
    size: str(values, 'size'),
    credentials: provider === 'digitalocean' ? credentialsFromEnv(io.env) : undefined,
    signal: cli.signal,
    providerOptions: io.providerOptions,
    ...(device ? { hetzner: { device } } : {}),
    log: (line) => io.stderr.write(`${redact(line, secrets)}\n`),
    onStatus: statusPrinter(io.stderr),
  });
  io.stderr.write(`${r.summary}\n`);
  for (const w of r.warnings) io.stderr.write(`warning: ${redact(w, secrets)}\n`);
  io.stdout.write(values.json ? `${JSON.stringify({ provider, imageId: r.imageId, name: r.name, setting: r.setting })}\n` : `${r.imageId}\n`);
  return 0;
}

/**
 * The image flake to build on a worker: with --build-on-worker, or when there is no image file and this computer's
 * Nix cannot build x86_64-linux (a person at a terminal is asked; a script is told the flag).
 */
async function workerFlake(cli: CliContext, v: Args['values'], file: string, fileGiven: boolean): Promise<string | undefined> {
  let wanted = v['build-on-worker'] === true;
  if (!wanted && !fileGiven && !fs.existsSync(file)) {
    const local = await localImageBuild({ env: cli.io.env });
    if (!local.ok) {
      const offer = `No image at ${file}, and ${local.reason}: Thebacknd can build it on a temporary server and import it from there (the server is destroyed afterwards).`;
      if (!cli.io.interactive) throw new UserError(`${offer} Run again with --build-on-worker.`);
      wanted = await cli.confirm(`${offer} Build it on a temporary server?`);
      if (!wanted) throw new UserError(`No image to import: build it (nix build ./nix#${cli.chosen}-image) or pass --build-on-worker.`);
    }
  }
  if (!wanted) return undefined;
  const dir = str(v, 'image-flake') ?? shippedFlakeDir();
  if (!dir || !fs.existsSync(path.join(dir, 'flake.nix'))) throw new UserError(`No image flake at ${dir ?? 'the nix/ folder shipped with Thebacknd'}: pass --image-flake DIR.`);
  return path.resolve(dir);
}

/** A line per step, and transfer progress at most every 2 s. */
function statusPrinter(out: NodeJS.WritableStream): (s: { message: string; fraction?: number }) => void {
  let lastStep = '';
  let lastAt = 0;
  return (s) => {
    const step = s.message.split(':')[0] ?? s.message;
    const now = Date.now();
    if (step === lastStep && now - lastAt < 2000 && s.fraction !== 1) return;
    lastStep = step;
    lastAt = now;
    out.write(`${s.message}\n`);
  };
}

export const IMAGE_COMMANDS: CommandSpec[] = [
  {
    name: 'import-image',
    summary: 'import the Thebacknd base image into DigitalOcean or Hetzner; print its id',
    usage: DETAILS,
    options: OPTIONS,
    deprecated: oldCacheSpellings(['bucket']),
    cancel: { said: 'cancelled; what the import had made is removed.' },
    run: importImageCommand,
  },
];
