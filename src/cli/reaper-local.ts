// `thebacknd reaper install --local`: a timer on this computer that runs `thebacknd destroy-old` for one provider
// every N minutes, for users without DigitalOcean Functions (Hetzner only). systemd user units on Linux, a launchd
// agent on macOS, a crontab line elsewhere or with --crontab. `--remove` undoes it. The timer calls this very
// thebacknd by absolute path (node + script) and reads the token from the --token-file, which must be 0600.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { installLocal, removeLocal, checkTokenFile } from '../cloud-reaper/local-install';
import { timerPaths } from '../cloud-reaper/local-timer';
import { BOUNDS } from '../base/settings';
import { PROVIDERS } from '../base/tokens';
import type { ProviderId } from '../providers/types';
import { UsageError, type OptionSpec, type Values } from './args';
import { ENDPOINT_ENV, type CliContext } from './context';

export const INSTALL_OPTIONS: OptionSpec = {
  local: { type: 'boolean' },
  remove: { type: 'boolean' },
  every: { type: 'string' },
  crontab: { type: 'boolean' },
};

export const INSTALL_USAGE = `reaper install --local --provider P --token-file F [--every MIN] [--endpoint URL] [--crontab]
       reaper install --local --remove [--provider P] [--crontab]`;

/** The running thebacknd: what the timer will call. */
export interface Self {
  node: string;
  script: string | undefined;
  platform: NodeJS.Platform;
  cwd: string;
  uid: number | undefined;
}

function currentProcess(): Self {
  return { node: process.execPath, script: process.argv[1], platform: process.platform, cwd: process.cwd(), uid: process.getuid?.() };
}

export async function reaperInstall(ctx: CliContext, values: Values, self: Self = currentProcess()): Promise<number> {
  if (!values.local) throw new UsageError('reaper install needs --local: it installs a timer on this computer (the cloud reaper is `thebacknd reaper deploy`).');
  const provider = ctx.globals.provider as ProviderId | undefined;
  const paths = timerPaths(ctx.io.env, os.homedir());
  const options = { platform: self.platform, paths, crontab: values.crontab === true, env: ctx.io.env, uid: self.uid };

  if (values.remove) {
    const outcome = await removeLocal(provider ? [provider] : PROVIDERS, options);
    for (const l of outcome.lines) ctx.out(l);
    return 0;
  }

  if (!provider || !ctx.globals.tokenFile) {
    throw new UsageError('reaper install --local reads the token from a file only: pass --provider P --token-file FILE (mode 0600).');
  }
  const everyMinutes = every(values.every, ctx.settings.reapIntervalMinutes);
  const tokenFile = checkTokenFile(ctx.globals.tokenFile, provider, self);
  const url = ctx.globals.endpoint ?? ctx.io.env[ENDPOINT_ENV[provider]];
  if (url !== undefined && !/^https?:\/\/[^\s]+$/.test(url)) throw new UsageError(`--endpoint must be an http(s) URL, not ${JSON.stringify(url)}.`);
  const script = self.script ? path.resolve(self.cwd, self.script) : undefined;
  if (!script || !fs.existsSync(script)) throw new UsageError('Cannot tell where this thebacknd is installed: run it as `thebacknd` or `node /path/to/cli.js`.');

  const outcome = await installLocal({ provider, tokenFile, everyMinutes, node: self.node, script, ...(url ? { endpoint: { name: ENDPOINT_ENV[provider], url } } : {}) }, options);
  for (const l of outcome.lines) (outcome.ok ? ctx.out : ctx.err).call(ctx, l);
  return outcome.ok ? 0 : 1;
}

function every(value: Values[string], fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  const { min, max } = BOUNDS.reapIntervalMinutes;
  if (typeof value !== 'string' || !Number.isInteger(n) || n < min || n > max) throw new UsageError(`--every must be a whole number of minutes from ${min} to ${max}.`);
  return n;
}
