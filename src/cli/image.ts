// `thebacknd import-image --provider P [--file F]`: imports the Thebacknd base image into a cloud and prints its id
// on stdout (progress on stderr), for thebacknd.<provider>.image or `thebacknd create --image`.

import path from 'node:path';
import { UserError, isAbort, messageOf, redact } from '../base/errors';
import { DEFAULTS } from '../base/settings';
import { PROVIDERS, TOKEN_ENV } from '../base/tokens';
import { DEFAULT_IMAGE_FILE, defaultImagePath, importImage } from '../image';
import { str, UsageError, type CliCommand } from './command';
import { cancelOn } from './signals';
import { ENDPOINT_ENV, type CliContext } from './context';
import { cacheFromFlags, credentialsFromEnv } from './push';

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
                          then boots on types with at least its disk
      --device D          Hetzner: the disk in the rescue system (default /dev/sda)
      --token-file F      read the token from F (default ${TOKEN_ENV.digitalocean} / ${TOKEN_ENV.hetzner})
      --endpoint URL      API base URL, e.g. the local emulator (default ${ENDPOINT_ENV.digitalocean} / ${ENDPOINT_ENV.hetzner})
      --json              print {"provider","imageId","name","setting"} instead of the id
  -h, --help              show this help

DigitalOcean cache bucket (flag, else environment variable):
  --cache-endpoint URL      THEBACKND_CACHE_ENDPOINT
  --bucket NAME             THEBACKND_CACHE_BUCKET
  --cache-region REGION     THEBACKND_CACHE_REGION     (default us-east-1)
  --checksum-mode MODE      THEBACKND_CACHE_CHECKSUM_MODE  WHEN_REQUIRED (default) or WHEN_SUPPORTED
  --virtual-host-style      bucket.host URLs instead of host/bucket
Credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
`;

/** --provider, --token-file, --endpoint and --help are main's global options. */
const OPTIONS = {
  file: { type: 'string', short: 'f' },
  name: { type: 'string' },
  region: { type: 'string' },
  size: { type: 'string' },
  device: { type: 'string' },
  json: { type: 'boolean' },
  'cache-endpoint': { type: 'string' },
  bucket: { type: 'string' },
  'cache-region': { type: 'string' },
  'checksum-mode': { type: 'string' },
  'virtual-host-style': { type: 'boolean' },
} as const;

async function importImageCommand(cli: CliContext, { values: v, positionals }: { values: Readonly<Record<string, unknown>>; positionals: string[] }): Promise<number> {
  const io = cli.io;
  if (positionals.length) throw new UsageError(`import-image takes options only (got "${positionals[0]}").`);
  const provider = cli.chosen;
  if (!provider) throw new UsageError(`import-image: --provider must be ${PROVIDERS.join(' or ')}.`);
  const values = {
    file: str(v, 'file'),
    name: str(v, 'name'),
    region: str(v, 'region'),
    size: str(v, 'size'),
    device: str(v, 'device'),
    json: v.json === true,
    'cache-endpoint': str(v, 'cache-endpoint'),
    bucket: str(v, 'bucket'),
    'cache-region': str(v, 'cache-region'),
    'checksum-mode': str(v, 'checksum-mode'),
    'virtual-host-style': v['virtual-host-style'] === true,
  };
  const secrets = [io.env.AWS_SECRET_ACCESS_KEY ?? '', io.env.AWS_SESSION_TOKEN ?? '', ...cli.secrets];
  const cancel = cancelOn(io.signal);
  try {
    const token = cli.token(provider);
    const r = await importImage({
      provider,
      file: values.file ? path.resolve(values.file) : defaultImagePath(process.cwd(), provider),
      ...(values.name ? { name: values.name } : {}),
      token,
      endpoint: cli.endpoint(provider),
      settings: {
        ...DEFAULTS,
        cache: cacheFromFlags(
          {
            endpoint: values['cache-endpoint'],
            bucket: values.bucket,
            region: values['cache-region'],
            'checksum-mode': values['checksum-mode'],
            'virtual-host-style': values['virtual-host-style'],
          },
          io.env,
        ),
      },
      region: values.region,
      size: values.size,
      credentials: provider === 'digitalocean' ? credentialsFromEnv(io.env) : undefined,
      signal: cancel.signal,
      providerOptions: io.providerOptions,
      ...(values.device ? { hetzner: { device: values.device } } : {}),
      log: (line) => io.stderr.write(`${redact(line, secrets)}\n`),
      onStatus: statusPrinter(io.stderr),
    });
    io.stderr.write(`${r.summary}\n`);
    for (const w of r.warnings) io.stderr.write(`warning: ${redact(w, secrets)}\n`);
    io.stdout.write(values.json ? `${JSON.stringify({ provider, imageId: r.imageId, name: r.name, setting: r.setting })}\n` : `${r.imageId}\n`);
    return 0;
  } catch (err) {
    if (isAbort(err)) {
      io.stderr.write('thebacknd: cancelled; what the import had made is removed.\n');
      return cancel.exitCode();
    }
    io.stderr.write(`thebacknd: ${messageOf(err, secrets)}\n`);
    if (err instanceof UserError && err.detail) io.stderr.write(`${redact(err.detail, secrets).replace(/^/gm, '  ')}\n`);
    return 1;
  } finally {
    cancel.dispose();
  }
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

export const IMAGE_COMMANDS: CliCommand[] = [
  {
    name: 'import-image',
    summary: 'import the Thebacknd base image into DigitalOcean or Hetzner; print its id',
    usage: DETAILS,
    options: OPTIONS,
    run: importImageCommand,
  },
];
