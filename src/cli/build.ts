// `thebacknd build [installable]`: builds a flake's toplevel (or anything Nix can build), the log on stderr and the
// store path alone on stdout, so `path=$(thebacknd build)` works. `--push` signs and pushes it too; `--workers N`
// builds on N ephemeral cloud machines instead (workers.ts). One option table for both: each mode refuses the
// options of the other.

import { build } from '../nix/build';
import { findFlakes } from '../nix/flake';
import { isExplicitInstallable, resolveTarget } from '../nix/installable';
import { checkNix } from '../nix/version';
import { refuse, str, UsageError, type Values } from './args';
import { CACHE_HELP, cacheFlagsOf, oldCacheSpellings } from './cache-flags';
import { CLOUD_OPTIONS, type CommandSpec } from './command';
import { PLACEMENT_OPTIONS } from './placement';
import { PUSH_OPTIONS, pushPaths, RESUMABLE } from './push';
import { buildOnWorkersCli, WORKER_HELP, WORKER_OPTIONS } from './workers';

const DETAILS = `build [options] [installable | configuration-name]

Builds with Nix and prints the store path on stdout (the build log goes to stderr).
  (nothing)        the toplevel of the flake's only nixosConfigurations entry
  NAME             .#nixosConfigurations.NAME.config.system.build.toplevel
  INSTALLABLE      anything nix build accepts: .#pkg, github:owner/repo#x, /nix/store/…

Options:
  --flake DIR      the flake folder (default: the current folder)
  --push           sign the result and push its closure to the binary cache
  --workers N      build on N ephemeral cloud machines instead (below)
  -h, --help       show this help

${CACHE_HELP}
${WORKER_HELP}`;

const LOCAL_ONLY = ['push', ...Object.keys(PUSH_OPTIONS)];
/** --endpoint, --bucket and --region named the cache with --push before #18 (with --workers they are the cloud's). */
const pushingHere = (v: Values): boolean => v.push === true && v.workers === undefined;
const WORKERS_ONLY = [...Object.keys(PLACEMENT_OPTIONS), ...Object.keys(WORKER_OPTIONS)].filter((k) => k !== 'flake' && k !== 'workers');

export const BUILD_COMMAND: CommandSpec = {
  name: 'build',
  summary: 'build a nixosConfiguration or installable (here, or on --workers N); print its store path',
  usage: DETAILS,
  options: { ...PUSH_OPTIONS, ...PLACEMENT_OPTIONS, ...WORKER_OPTIONS, push: { type: 'boolean' } },
  deprecated: oldCacheSpellings(['endpoint', 'bucket', 'region'], pushingHere),
  cancel: RESUMABLE,
  async run(ctx, { values, positionals }) {
    if (positionals.length > 1) throw new UsageError('build: one installable at a time.');
    if (values.workers !== undefined) {
      refuse(values, LOCAL_ONLY, 'the workers build where they are; push the result with thebacknd push.');
      return buildOnWorkersCli(ctx, values, positionals[0]);
    }
    refuse(values, [...CLOUD_OPTIONS, ...WORKERS_ONLY], 'these apply to build --workers N only.');
    const io = ctx.io;
    const dir = str(values, 'flake') ?? process.cwd();
    const arg = positionals[0];
    if (!(arg && isExplicitInstallable(arg)) && findFlakes([dir]).length === 0) {
      throw new UsageError(`build: no flake.nix in ${dir}; use --flake DIR or name an installable.`);
    }
    const nix = { env: io.env, signal: ctx.signal, onLog: (l: string) => io.stderr.write(`${l}\n`) };
    await checkNix(nix);
    const target = await resolveTarget(arg, dir, nix);
    io.stderr.write(`building ${target.installable}\n`);
    const result = await build(target.installable, nix);
    if (values.push) await pushPaths([result.path], cacheFlagsOf(values), io, ctx.signal);
    io.stdout.write(`${result.path}\n`);
    return 0;
  },
};
