// The local reaper timer, for users without DigitalOcean Functions (Hetzner only): an OS timer that runs
// `thebacknd destroy-old` for one provider every N minutes while the computer is on. This file only writes text:
// the systemd user units (Linux), the launchd agent (macOS) and the crontab line (elsewhere). local-install.ts
// writes them and talks to systemctl / launchctl.
//
// The token never appears in what is generated: the command reads it from a file of mode 0600 (--token-file).

import path from 'node:path';
import { UserError } from '../base/errors';
import { PROVIDER_LABEL } from '../base/tokens';
import type { ProviderId } from '../providers/types';

export type TimerKind = 'systemd' | 'launchd' | 'crontab';

/** What the timer runs: this thebacknd, by absolute path, for one provider. */
export interface TimerSpec {
  provider: ProviderId;
  /** Absolute path of the token file (mode 0600). */
  tokenFile: string;
  /** The API base URL, set as THEBACKND_DO_ENDPOINT / THEBACKND_HCLOUD_ENDPOINT when given. */
  endpoint?: { name: string; url: string } | undefined;
  everyMinutes: number;
  /** Absolute paths of node and of the thebacknd script (the running CLI's own). */
  node: string;
  script: string;
}

/** Where the files go: from HOME and the XDG variables, as systemd and the XDG base-directory spec read them. */
export interface TimerPaths {
  home: string;
  /** $XDG_CONFIG_HOME, else ~/.config. */
  configHome: string;
  /** $XDG_STATE_HOME, else ~/.local/state (the crontab line's log). */
  stateHome: string;
}

export function timerPaths(env: NodeJS.ProcessEnv, homedir: string): TimerPaths {
  const home = env.HOME || homedir;
  const abs = (v: string | undefined) => (v && path.isAbsolute(v) ? v : undefined);
  return {
    home,
    configHome: abs(env.XDG_CONFIG_HOME) ?? path.join(home, '.config'),
    stateHome: abs(env.XDG_STATE_HOME) ?? path.join(home, '.local', 'state'),
  };
}

/** systemd on Linux, launchd on macOS, a crontab line anywhere else (or when asked). */
export function timerKind(platform: NodeJS.Platform, crontab: boolean): TimerKind {
  if (crontab) return 'crontab';
  if (platform === 'linux') return 'systemd';
  if (platform === 'darwin') return 'launchd';
  return 'crontab';
}

/** `thebacknd-reaper-hetzner`: the systemd unit name and the crontab line's marker. */
export const unitName = (p: ProviderId): string => `thebacknd-reaper-${p}`;
/** `org.thebacknd.reaper.hetzner`: the launchd label. */
export const launchdLabel = (p: ProviderId): string => `org.thebacknd.reaper.${p}`;

/**
 * The token file Install Local Reaper Timer… writes for the timer to read (0600, in a 0700 folder), under a name
 * only it uses, so that `reaper install --local --remove` deletes exactly what it wrote.
 */
export function managedTokenFile(paths: TimerPaths, p: ProviderId): string {
  return path.join(paths.configHome, 'thebacknd', `vscode-${p}.token`);
}
/** Where the README asks a command-line user to put the token by hand (and older extensions wrote it): never deleted. */
export function handTokenFile(paths: TimerPaths, p: ProviderId): string {
  return path.join(paths.configHome, 'thebacknd', `${p}.token`);
}
export function systemdDir(paths: TimerPaths): string {
  return path.join(paths.configHome, 'systemd', 'user');
}
export function launchdFile(paths: TimerPaths, p: ProviderId): string {
  return path.join(paths.home, 'Library', 'LaunchAgents', `${launchdLabel(p)}.plist`);
}
export function launchdLog(paths: TimerPaths, p: ProviderId): string {
  return path.join(paths.home, 'Library', 'Logs', `${unitName(p)}.log`);
}
export function crontabLog(paths: TimerPaths, p: ProviderId): string {
  return path.join(paths.stateHome, 'thebacknd', `${unitName(p)}.log`);
}

/** The command line, as arguments: never the token, only the file it is in. */
export function argv(spec: TimerSpec): string[] {
  return [spec.node, spec.script, '--provider', spec.provider, '--token-file', spec.tokenFile, 'destroy-old'];
}

/** Paths and URLs come from the user: no control characters, so no line of a unit or crontab can be injected. */
function checkText(what: string, value: string): void {
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new UserError(`${what} contains a line break or control character: ${JSON.stringify(value)}.`);
}

function checkSpec(spec: TimerSpec): void {
  for (const p of [spec.node, spec.script, spec.tokenFile]) {
    checkText('A path', p);
    if (!path.isAbsolute(p)) throw new Error(`Not an absolute path: ${p}`);
  }
  if (spec.endpoint) checkText('The endpoint', spec.endpoint.url);
}

/** A double-quoted systemd value: C escapes, `%` (specifiers) doubled. */
function systemdQuoted(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%')}"`;
}

/** A word of ExecStart, where `$` (variable expansion) is doubled too. */
function systemdWord(s: string): string {
  return systemdQuoted(s.replace(/\$/g, '$$$$'));
}

export function systemdUnits(spec: TimerSpec): { service: string; timer: string } {
  checkSpec(spec);
  const name = unitName(spec.provider);
  const label = PROVIDER_LABEL[spec.provider];
  const env = spec.endpoint ? [`Environment=${systemdQuoted(`${spec.endpoint.name}=${spec.endpoint.url}`)}`] : [];
  const service = [
    '# Written by `thebacknd reaper install --local`; removed by `thebacknd reaper install --local --remove`.',
    '[Unit]',
    `Description=Thebacknd reaper for ${label}: destroy machines past their deadline`,
    '',
    '[Service]',
    'Type=oneshot',
    ...env,
    `ExecStart=${argv(spec).map(systemdWord).join(' ')}`,
    'UMask=0077',
    'NoNewPrivileges=yes',
    '',
  ].join('\n');
  const timer = [
    '# Written by `thebacknd reaper install --local`; removed by `thebacknd reaper install --local --remove`.',
    '[Unit]',
    `Description=Run the Thebacknd reaper for ${label} every ${spec.everyMinutes} min`,
    '',
    '[Timer]',
    // A first pass a minute after the timer starts (login, or enable --now), then one per period after the last.
    'OnActiveSec=1min',
    `OnUnitActiveSec=${spec.everyMinutes}min`,
    `Unit=${name}.service`,
    '',
    '[Install]',
    'WantedBy=timers.target',
    '',
  ].join('\n');
  return { service, timer };
}

function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function launchdPlist(spec: TimerSpec, logFile: string): string {
  checkSpec(spec);
  checkText('A path', logFile);
  const str = (s: string) => `<string>${xml(s)}</string>`;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    '<plist version="1.0">',
    '<dict>',
    `  <key>Label</key>${str(launchdLabel(spec.provider))}`,
    '  <key>ProgramArguments</key>',
    '  <array>',
    ...argv(spec).map((a) => `    ${str(a)}`),
    '  </array>',
    ...(spec.endpoint ? ['  <key>EnvironmentVariables</key>', '  <dict>', `    <key>${xml(spec.endpoint.name)}</key>${str(spec.endpoint.url)}`, '  </dict>'] : []),
    `  <key>StartInterval</key><integer>${spec.everyMinutes * 60}</integer>`,
    '  <key>RunAtLoad</key><true/>',
    '  <key>ProcessType</key><string>Background</string>',
    '  <key>Umask</key><integer>63</integer>',
    `  <key>StandardOutPath</key>${str(logFile)}`,
    `  <key>StandardErrorPath</key>${str(logFile)}`,
    '</dict>',
    '</plist>',
    '',
  ];
  return lines.join('\n');
}

/** A POSIX shell word. */
function shWord(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * `*\/20 * * * * '/usr/bin/node' '/…/cli.js' --provider hetzner --token-file '/…' destroy-old >>'…log' # thebacknd-reaper-hetzner`.
 * Periods of an hour or more run every whole hour count below it (more often, never less). Cron turns `%` into a
 * line break, so a path with one is refused rather than escaped: the command part stays exactly what `sh -c` runs.
 */
export function crontabLine(spec: TimerSpec, logFile: string): { line: string; schedule: string; command: string } {
  checkSpec(spec);
  checkText('A path', logFile);
  for (const s of [...argv(spec), logFile, spec.endpoint?.url ?? '']) {
    if (s.includes('%')) throw new UserError(`Cron reads "%" as a line break: ${JSON.stringify(s)} cannot go in a crontab line. Use a path without "%".`);
  }
  const n = spec.everyMinutes;
  const hours = Math.floor(n / 60);
  const schedule = n < 60 ? `*/${n} * * * *` : hours === 1 ? '0 * * * *' : `0 */${hours} * * *`;
  const env = spec.endpoint ? `${spec.endpoint.name}=${shWord(spec.endpoint.url)} ` : '';
  const command = `${env}${argv(spec).map(shWord).join(' ')} >>${shWord(logFile)} # ${unitName(spec.provider)}`;
  return { line: `${schedule} ${command}`, schedule, command };
}
