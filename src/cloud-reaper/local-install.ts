// Installs and removes the local reaper timer (local-timer.ts writes the text): writes the files, then asks the
// user's service manager to load them (`systemctl --user`, `launchctl`). Where that manager cannot be reached (no
// user session bus: a CI container, ssh without lingering), the files stay and the outcome says which commands to
// run in the user's own session. Returns lines to print; never throws for a manager that is missing.

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../base/errors';
import { PROVIDER_LABEL } from '../base/tokens';
import type { ProviderId } from '../providers/types';
import {
  crontabLine,
  crontabLog,
  launchdFile,
  launchdLabel,
  launchdLog,
  launchdPlist,
  handTokenFile,
  managedTokenFile,
  systemdDir,
  systemdUnits,
  timerKind,
  unitName,
  type TimerKind,
  type TimerPaths,
  type TimerSpec,
} from './local-timer';

export interface ExecResult {
  /** Exit code; undefined when the program could not be started (`missing` says why). */
  code: number | undefined;
  output: string;
  missing: boolean;
}
export type Exec = (file: string, args: string[]) => Promise<ExecResult>;

export interface LocalOptions {
  platform: NodeJS.Platform;
  paths: TimerPaths;
  /** Print a crontab line instead of installing a systemd or launchd timer. */
  crontab: boolean;
  /** Runs systemctl / launchctl; the default runs them for real with `env`. */
  exec?: Exec;
  env?: NodeJS.ProcessEnv;
  /** The user id for launchctl's `gui/<uid>` domain. */
  uid?: number;
}

export interface Outcome {
  /** Everything went through (for a crontab line: the line was printed). */
  ok: boolean;
  kind: TimerKind;
  lines: string[];
}

export function realExec(env: NodeJS.ProcessEnv | undefined): Exec {
  return (file, args) =>
    new Promise((resolve) => {
      execFile(file, args, { env: env ?? process.env, timeout: 30_000, encoding: 'utf8' }, (err, stdout, stderr) => {
        const output = `${stderr}\n${stdout}`.trim();
        if (!err) return resolve({ code: 0, output, missing: false });
        const e = err as NodeJS.ErrnoException & { code?: string | number };
        if (e.code === 'ENOENT') return resolve({ code: undefined, output: `${file} not found`, missing: true });
        resolve({ code: typeof e.code === 'number' ? e.code : 1, output: output || e.message, missing: false });
      });
    });
}

/**
 * The token file the timer will read: it must exist, be a regular file of this user, and be closed to group and
 * others (mode 0600 or stricter). Returns its absolute path.
 */
export function checkTokenFile(file: string, provider: ProviderId, o: { cwd: string; platform: NodeJS.Platform; uid: number | undefined }): string {
  const abs = path.resolve(o.cwd, file);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch (e) {
    throw new UserError(`Cannot read the token file ${abs} (${(e as NodeJS.ErrnoException).code ?? 'error'}).`);
  }
  if (!st.isFile()) throw new UserError(`The token file ${abs} is not a regular file.`);
  if (o.platform === 'win32') return abs;
  if (st.mode & 0o077) {
    const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
    throw new UserError(
      `The token file ${abs} can be read by other users (mode ${mode}). The timer would read your ${PROVIDER_LABEL[provider]} token from it every period: make it yours alone with \`chmod 600 ${abs}\`, then run this again.`,
    );
  }
  if (o.uid !== undefined && st.uid !== o.uid) throw new UserError(`The token file ${abs} belongs to another user (uid ${st.uid}); use a file of your own, mode 0600.`);
  return abs;
}

/** Writes the token where only this user can read it (the folder 0700, the file 0600, never half-written). */
export function writeManagedTokenFile(paths: TimerPaths, provider: ProviderId, token: string): string {
  const file = managedTokenFile(paths, provider);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${token}\n`, { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
  return file;
}

function write(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text, { mode: 0o644 });
}

function firstLine(text: string): string {
  return (
    text
      .split('\n')
      .find((l) => l.trim())
      ?.trim() ?? 'no output'
  );
}

/** Runs the commands in order; stops at the first failure and says which and why. */
async function runAll(exec: Exec, commands: string[][]): Promise<string | undefined> {
  for (const [file, ...args] of commands) {
    const r = await exec(file!, args);
    if (r.code !== 0) return `\`${[file, ...args].join(' ')}\` ${r.missing ? 'cannot run: not found' : `failed: ${firstLine(r.output)}`}`;
  }
  return undefined;
}

export async function installLocal(spec: TimerSpec, o: LocalOptions): Promise<Outcome> {
  const kind = timerKind(o.platform, o.crontab);
  const exec = o.exec ?? realExec(o.env);
  const name = unitName(spec.provider);
  const label = PROVIDER_LABEL[spec.provider];
  const what = `\`thebacknd destroy-old\` for ${label} every ${spec.everyMinutes} min`;
  if (kind === 'crontab') {
    const log = crontabLog(o.paths, spec.provider);
    const { line } = crontabLine(spec, log);
    fs.mkdirSync(path.dirname(log), { recursive: true, mode: 0o700 });
    return {
      ok: true,
      kind,
      lines: [`Add this line to your crontab (\`crontab -e\`) to run ${what} (its output goes to ${log}):`, '', line, ''],
    };
  }
  if (kind === 'systemd') {
    const dir = systemdDir(o.paths);
    const units = systemdUnits(spec);
    write(path.join(dir, `${name}.service`), units.service);
    write(path.join(dir, `${name}.timer`), units.timer);
    const commands = [
      ['systemctl', '--user', 'daemon-reload'],
      ['systemctl', '--user', 'enable', `${name}.timer`],
      // restart, not start: a timer already running picks up a new period.
      ['systemctl', '--user', 'restart', `${name}.timer`],
    ];
    const failed = await runAll(exec, commands);
    const wrote = `Wrote ${path.join(dir, `${name}.service`)} and ${name}.timer.`;
    if (!failed) {
      return {
        ok: true,
        kind,
        lines: [
          wrote,
          `Started ${name}.timer: it runs ${what} while you are logged in (\`loginctl enable-linger\` keeps it running after you log out).`,
          `Its log: journalctl --user -u ${name}.service`,
        ],
      };
    }
    return {
      ok: false,
      kind,
      lines: [
        wrote,
        `The timer is not running: ${failed} (no systemd user session here?).`,
        'In your own login session, run:',
        '',
        '  systemctl --user daemon-reload',
        `  systemctl --user enable --now ${name}.timer`,
        '',
        `Without systemd, print a crontab line instead: thebacknd reaper install --local --crontab --provider ${spec.provider} --token-file ${spec.tokenFile}`,
      ],
    };
  }
  const file = launchdFile(o.paths, spec.provider);
  const log = launchdLog(o.paths, spec.provider);
  write(file, launchdPlist(spec, log));
  fs.mkdirSync(path.dirname(log), { recursive: true });
  const domain = `gui/${o.uid ?? 0}`;
  // bootout first (it fails when nothing is loaded), so that installing again loads the new period.
  await exec('launchctl', ['bootout', `${domain}/${launchdLabel(spec.provider)}`]);
  const failed = await runAll(exec, [['launchctl', 'bootstrap', domain, file]]);
  if (!failed) return { ok: true, kind, lines: [`Wrote and loaded ${file}: it runs ${what}. Its log: ${log}`] };
  return {
    ok: false,
    kind,
    lines: [`Wrote ${file}.`, `The agent is not loaded: ${failed}.`, 'In your own login session, run:', '', `  launchctl bootstrap ${domain} ${file}`, ''],
  };
}

/**
 * Stops and deletes what installLocal wrote for these providers, and the token file Install Local Reaper Timer…
 * wrote for them (managedTokenFile; never a --token-file of the user's own); a crontab line can only be pointed at.
 */
export async function removeLocal(providers: readonly ProviderId[], o: LocalOptions): Promise<Outcome> {
  const kind = timerKind(o.platform, o.crontab);
  const exec = o.exec ?? realExec(o.env);
  const lines: string[] = [];
  for (const p of providers) {
    const name = unitName(p);
    const dir = systemdDir(o.paths);
    const units = [`${name}.timer`, `${name}.service`].map((f) => path.join(dir, f)).filter((f) => fs.existsSync(f));
    if (units.length) {
      const stopFailed = await runAll(exec, [['systemctl', '--user', 'disable', '--now', `${name}.timer`]]);
      for (const f of units) fs.rmSync(f, { force: true });
      // Once the files are gone, a reload makes the manager forget the units.
      const problem = stopFailed ?? (await runAll(exec, [['systemctl', '--user', 'daemon-reload']]));
      lines.push(`Removed ${units.join(' and ')}.`);
      if (problem) {
        lines.push(
          `Could not reach the systemd user manager: ${problem}. Nothing will start the timer again; if a running session still has it loaded, run there: systemctl --user stop ${name}.timer && systemctl --user daemon-reload`,
        );
      }
    }
    const plist = launchdFile(o.paths, p);
    const hasPlist = fs.existsSync(plist);
    if (hasPlist) {
      await exec('launchctl', ['bootout', `gui/${o.uid ?? 0}/${launchdLabel(p)}`]);
      fs.rmSync(plist, { force: true });
      lines.push(`Unloaded and removed ${plist}.`);
    }
    const found = units.length > 0 || hasPlist;
    if (!found) lines.push(`No local reaper timer for ${PROVIDER_LABEL[p]} is installed here.`);
    const token = managedTokenFile(o.paths, p);
    if (fs.existsSync(token)) {
      fs.rmSync(token, { force: true });
      lines.push(`Removed the token file ${token} that Install Local Reaper Timer… wrote.`);
    }
    const hand = handTokenFile(o.paths, p);
    if (fs.existsSync(hand)) lines.push(`Kept the token file ${hand}: made by hand (or by an older Thebacknd). Delete it if nothing else reads it.`);
    if (kind === 'crontab' || !found) lines.push(`If you added a crontab line for ${PROVIDER_LABEL[p]}, remove the line ending in \`# ${name}\` (\`crontab -e\`).`);
  }
  return { ok: true, kind, lines };
}

/** The local timer installed for a provider, if any: what the Machines view shows. */
export function installedTimer(paths: TimerPaths, provider: ProviderId): { kind: 'systemd' | 'launchd'; file: string; everyMinutes: number | undefined } | undefined {
  const timer = path.join(systemdDir(paths), `${unitName(provider)}.timer`);
  const read = (f: string) => {
    try {
      return fs.readFileSync(f, 'utf8');
    } catch {
      return undefined;
    }
  };
  const t = read(timer);
  if (t !== undefined) {
    const m = /^OnUnitActiveSec=(\d+)min$/m.exec(t);
    return { kind: 'systemd', file: timer, everyMinutes: m ? Number(m[1]) : undefined };
  }
  const plist = launchdFile(paths, provider);
  const x = read(plist);
  if (x !== undefined) {
    const m = /<key>StartInterval<\/key><integer>(\d+)<\/integer>/.exec(x);
    return { kind: 'launchd', file: plist, everyMinutes: m ? Math.round(Number(m[1]) / 60) : undefined };
  }
  return undefined;
}
