// `thebacknd keygen [--name NAME] [--dir DIR]`: a binary-cache signing key pair; prints the public key on stdout.

import os from 'node:os';
import path from 'node:path';
import { defaultKeyName, generateSigningKey } from '../nix/sign';
import { refuse, str, strings, UsageError } from './args';
import { CLOUD_OPTIONS, type CommandSpec } from './command';
import { RESUMABLE } from './push';

const DETAILS = `keygen [--name NAME] [--dir DIR]

Generates a Nix binary-cache signing key with nix-store --generate-binary-cache-key:
DIR/NAME.sec (mode 0600, for THEBACKND_SIGNING_KEY_FILE) and DIR/NAME.pub.
Prints the public key, for the machines' trusted-public-keys (thebacknd.cache.trustedPublicKey).
  --name NAME   key name (default <hostname>-thebacknd-1)
  --dir DIR     where to write the files (default the current folder)
`;

export const KEYGEN_COMMAND: CommandSpec = {
  name: 'keygen',
  summary: 'generate a binary-cache signing key pair',
  usage: DETAILS,
  options: strings('name', 'dir'),
  cancel: RESUMABLE,
  async run(ctx, { values, positionals }) {
    refuse(values, CLOUD_OPTIONS, 'keygen talks to no cloud.');
    if (positionals.length) throw new UsageError('keygen takes options only (--name, --dir).');
    const name = str(values, 'name') ?? defaultKeyName(os.hostname());
    const dir = path.resolve(str(values, 'dir') ?? process.cwd());
    const key = await generateSigningKey(name, dir, { env: ctx.io.env, signal: ctx.signal });
    ctx.io.stderr.write(`secret key: ${key.secretKeyFile} (mode 0600; keep it private)\npublic key: ${key.publicKeyFile}\n`);
    ctx.io.stdout.write(`${key.publicKey}\n`);
    return 0;
  },
};
