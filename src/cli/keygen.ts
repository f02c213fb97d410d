// `thebacknd keygen [--name NAME] [--dir DIR]`: a binary-cache signing key pair; prints the public key on stdout.

import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { messageOf } from '../core/errors';
import { defaultKeyName, generateSigningKey } from '../nix/sign';
import { withCancel, type CliIo } from './push';

const HELP = `Usage: thebacknd keygen [--name NAME] [--dir DIR]

Generates a Nix binary-cache signing key with nix-store --generate-binary-cache-key:
DIR/NAME.sec (mode 0600, for THEBACKND_SIGNING_KEY_FILE) and DIR/NAME.pub.
Prints the public key, for the machines' trusted-public-keys (thebacknd.cache.trustedPublicKey).
  --name NAME   key name (default <hostname>-thebacknd-1)
  --dir DIR     where to write the files (default the current folder)
`;

export async function keygenCommand(argv: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { name: { type: 'string' }, dir: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    io.stderr.write(`thebacknd keygen: ${messageOf(err)}\n${HELP}`);
    return 2;
  }
  if (parsed.values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  return withCancel(io, async (signal) => {
    const name = parsed.values.name ?? defaultKeyName(os.hostname());
    const dir = path.resolve(parsed.values.dir ?? process.cwd());
    const key = await generateSigningKey(name, dir, { env: io.env, signal });
    io.stderr.write(`secret key: ${key.secretKeyFile} (mode 0600; keep it private)\npublic key: ${key.publicKeyFile}\n`);
    io.stdout.write(`${key.publicKey}\n`);
    return 0;
  });
}
