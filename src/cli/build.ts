// `thebacknd build [installable]`: builds a flake's toplevel (or anything Nix can build), the log on stderr and the
// store path alone on stdout, so `path=$(thebacknd build)` works. `--push` signs and pushes it too.

import { parseArgs } from 'node:util';
import { messageOf } from '../core/errors';
import { build } from '../nix/build';
import { findFlakes } from '../nix/flake';
import { isExplicitInstallable, resolveTarget } from '../nix/installable';
import { checkNix } from '../nix/version';
import { CACHE_HELP, CACHE_OPTIONS, pushPaths, withCancel, type CliIo } from './push';

const HELP = `Usage: thebacknd build [options] [installable | configuration-name]

Builds with Nix and prints the store path on stdout (the build log goes to stderr).
  (nothing)        the toplevel of the flake's only nixosConfigurations entry
  NAME             .#nixosConfigurations.NAME.config.system.build.toplevel
  INSTALLABLE      anything nix build accepts: .#pkg, github:owner/repo#x, /nix/store/…

Options:
  --flake DIR      the flake folder (default: the current folder)
  --push           sign the result and push its closure to the binary cache
  --workers N      build on N ephemeral cloud machines instead (thebacknd build --workers 1 --help)
  -h, --help       show this help

${CACHE_HELP}`;

export async function buildCommand(argv: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...CACHE_OPTIONS, flake: { type: 'string' }, push: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
    });
  } catch (err) {
    io.stderr.write(`thebacknd build: ${messageOf(err)}\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals.length > 1) {
    io.stderr.write(`thebacknd build: one installable at a time.\n${HELP}`);
    return 2;
  }
  return withCancel(io, async (signal) => {
    const nix = { env: io.env, signal, onLog: (l: string) => io.stderr.write(`${l}\n`) };
    await checkNix(nix);
    const dir = values.flake ?? process.cwd();
    const arg = positionals[0];
    if (!(arg && isExplicitInstallable(arg)) && findFlakes([dir]).length === 0) {
      io.stderr.write(`thebacknd build: no flake.nix in ${dir}; use --flake DIR or name an installable.\n`);
      return 2;
    }
    const target = await resolveTarget(arg, dir, nix);
    io.stderr.write(`building ${target.installable}\n`);
    const result = await build(target.installable, nix);
    if (values.push) await pushPaths([result.path], values, io, signal);
    io.stdout.write(`${result.path}\n`);
    return 0;
  });
}
