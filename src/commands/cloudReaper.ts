// Reaping while VS Code is closed. Deploy Cloud Reaper… puts the reaper on DigitalOcean Functions (deploy.ts, the
// core `thebacknd reaper deploy` uses) after a confirmation that shows the monthly cost; the destroy-self link and
// secret go to SecretStorage (the CLI keeps the same in a 0600 file). Install Local Reaper Timer… is for users
// without a DigitalOcean token: it runs `thebacknd reaper install --local` with a 0600 token file.

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Ctx } from '../views/app';
import { messageOf, UserError } from '../base/errors';
import { PROVIDER_LABEL, PROVIDERS, TOKEN_ENV } from '../base/tokens';
import type { ProviderId } from '../providers/types';
import { handTokenFile, managedTokenFile, timerPaths } from '../cloud-reaper/local-timer';
import { writeManagedTokenFile } from '../cloud-reaper/local-install';
import { REAPER_SECRET_KEY, type ReaperLink } from '../cloud-reaper/link';
import { storedLinkJson, usableLink } from '../cloud-reaper/stored-link';

/** The link a new machine's user-data gets its destroy-self code from, when a reaper was deployed from here. */
export async function reaperLinkOf(ctx: Ctx): Promise<ReaperLink | undefined> {
  return usableLink(await ctx.secrets.get(REAPER_SECRET_KEY), ctx.settings().digitalocean.endpoint);
}

/** A test inside VS Code cannot click a modal: `{ confirm: false }` skips it, honoured in test mode only. */
function unconfirmed(ctx: Ctx, options: unknown): boolean {
  return (options as { confirm?: unknown } | undefined)?.confirm === false && ctx.extension.extensionMode === vscode.ExtensionMode.Test;
}

export async function deployCloudReaper(ctx: Ctx, options?: unknown): Promise<void> {
  const s = ctx.settings();
  const dot = await ctx.tokens.get('digitalocean');
  if (!dot) {
    throw new UserError(
      'The cloud reaper runs on DigitalOcean Functions: set a DigitalOcean token first (it reaps Hetzner machines too). Without one, use Install Local Reaper Timer….',
      {
        kind: 'setToken',
        provider: 'digitalocean',
      },
    );
  }
  const het = await ctx.tokens.get('hetzner');
  const { cronFor } = await import('../cloud-reaper/schedule');
  const { reaperCost, describeCost } = await import('../cloud-reaper/cost');
  try {
    cronFor(s.reapIntervalMinutes);
  } catch (e) {
    throw new UserError(messageOf(e), { kind: 'openSettings', setting: 'thebacknd.reapIntervalMinutes' });
  }
  const reaps = het ? 'DigitalOcean and Hetzner' : 'DigitalOcean';
  if (!unconfirmed(ctx, options)) {
    const detail = [
      `destroy-old runs every ${s.reapIntervalMinutes} min (thebacknd.reapIntervalMinutes), with VS Code closed too, and destroys tagged ${reaps} machines past their deadline, powered off, or without a deadline and older than ${s.maxAgeMinutes} min.`,
      `Your ${reaps} token${het ? 's are' : ' is'} stored with the functions, as their parameters.`,
      ...describeCost(reaperCost(s.reapIntervalMinutes)),
    ].join('\n\n');
    const ok = await vscode.window.showInformationMessage('Deploy the cloud reaper to DigitalOcean Functions?', { modal: true, detail }, 'Deploy');
    if (ok !== 'Deploy') return;
  }
  const endpoints: Partial<Record<ProviderId, string>> = {};
  for (const p of PROVIDERS) if (s[p].endpoint.trim()) endpoints[p] = s[p].endpoint.trim();
  const { deployReaper, linkOf } = await import('../cloud-reaper/deploy');
  const d = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Thebacknd: deploying the cloud reaper' }, (progress) =>
    deployReaper({
      digitaloceanToken: dot.token,
      ...(het ? { hetznerToken: het.token } : {}),
      endpoints,
      intervalMinutes: s.reapIntervalMinutes,
      maxAgeMinutes: s.maxAgeMinutes,
      log: (line) => {
        progress.report({ message: line });
        void ctx.log('info', `Cloud reaper: ${line}`);
      },
    }),
  );
  await ctx.secrets.store(REAPER_SECRET_KEY, storedLinkJson(linkOf(d), { namespace: d.namespace, intervalMinutes: d.intervalMinutes, endpoint: endpoints.digitalocean ?? '' }));
  const m = ctx.machines;
  m.reaperView.watch.invalidate();
  await m.reaperView.watch.refresh();
  const next = d.trigger.nextRunAt ? `, first pass at ${new Date(d.trigger.nextRunAt).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}` : '';
  await ctx.log('info', `Cloud reaper deployed in namespace ${d.namespace} (${d.region}): destroy-old every ${d.intervalMinutes} min for ${reaps}.`);
  void vscode.window.showInformationMessage(`Thebacknd: cloud reaper deployed: destroy-old every ${d.intervalMinutes} min for ${reaps}${next}.`);
}

/** `thebacknd` on PATH, if any (the timer must call a command line that stays put: not the extension's files). */
function findCli(): string | undefined {
  const names = process.platform === 'win32' ? ['thebacknd.cmd', 'thebacknd.exe'] : ['thebacknd'];
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    for (const n of names) {
      const f = path.join(dir, n);
      try {
        fs.accessSync(f, fs.constants.X_OK);
        return f;
      } catch {
        /* next */
      }
    }
  }
  return undefined;
}

export async function installLocalReaper(ctx: Ctx, provider?: unknown, options?: unknown): Promise<void> {
  const p: ProviderId | undefined = PROVIDERS.includes(provider as ProviderId)
    ? (provider as ProviderId)
    : (
        await vscode.window.showQuickPick(
          PROVIDERS.map((id) => ({ label: PROVIDER_LABEL[id], id })),
          { title: 'Thebacknd: a local reaper timer for which provider?' },
        )
      )?.id;
  if (!p) return;
  const label = PROVIDER_LABEL[p];
  const t = await ctx.tokens.get(p);
  if (!t) throw new UserError(`No ${label} token: set one first.`, { kind: 'setToken', provider: p });
  const s = ctx.settings();
  const paths = timerPaths(process.env, os.homedir());
  // The token file this command writes (and `--remove` deletes); by hand, the user makes the README's own.
  const tokenFile = managedTokenFile(paths, p);
  const endpoint = s[p].endpoint.trim();
  const argsFor = (file: string) => [
    '--provider',
    p,
    '--token-file',
    file,
    ...(endpoint ? ['--endpoint', endpoint] : []),
    'reaper',
    'install',
    '--local',
    '--every',
    String(s.reapIntervalMinutes),
  ];
  const shown = (args: string[]) => `thebacknd ${args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ')}`;
  const args = argsFor(tokenFile);
  const command = shown(args);
  const cli = findCli();
  if (!cli) {
    const hand = handTokenFile(paths, p);
    const byHand = shown(argsFor(hand));
    const pick = await vscode.window.showInformationMessage(
      'The local reaper timer runs the thebacknd command line, which is not on PATH.',
      {
        modal: true,
        detail: `Install it (README › Command line: \`npm install -g .\` in Thebacknd's folder), put your ${label} token in ${hand} (mode 0600), then run:\n\n${byHand}`,
      },
      'Copy Command',
    );
    if (pick === 'Copy Command') await vscode.env.clipboard.writeText(byHand);
    return;
  }
  if (!unconfirmed(ctx, options)) {
    const ok = await vscode.window.showInformationMessage(
      `Install a local reaper timer for ${label}?`,
      {
        modal: true,
        detail: `A timer on this computer (systemd on Linux, launchd on macOS, else a crontab line to add) runs \`thebacknd destroy-old\` for ${label} every ${s.reapIntervalMinutes} min while the computer is on. It reads the ${label} token from ${tokenFile}, written now, readable by you only (mode 0600).`,
      },
      'Install',
    );
    if (ok !== 'Install') return;
  }
  writeManagedTokenFile(paths, p, t.token);
  // The child gets no token variable: the file is its only source, as for the timer.
  const env = { ...process.env };
  for (const id of PROVIDERS) delete env[TOKEN_ENV[id]];
  const r = await new Promise<{ code: number; out: string }>((resolve) =>
    execFile(cli, args, { env, timeout: 60_000, encoding: 'utf8' }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: unknown }).code) || 1 : 0, out: `${stdout}${stderr}`.trim() }),
    ),
  );
  await ctx.log(r.code === 0 ? 'info' : 'warn', `${command}\n${r.out}`);
  const m = ctx.machines;
  m.reaperView.watch.invalidate();
  await m.reaperView.watch.refresh();
  // Notifications are not awaited: the command ends when the install has, not when the user dismisses them.
  const cron = /^[*0-9][^\n]* destroy-old [^\n]*$/m.exec(r.out)?.[0];
  if (r.code === 0 && cron) {
    void vscode.window
      .showInformationMessage(`Thebacknd: add this line to your crontab (crontab -e): ${cron}`, 'Copy Line')
      .then((pick) => pick && vscode.env.clipboard.writeText(cron));
  } else if (r.code === 0) {
    void vscode.window.showInformationMessage(`Thebacknd: local reaper timer installed for ${label}: destroy-old every ${s.reapIntervalMinutes} min.`);
  } else {
    const why = r.out.split('\n').find((l) => /not running|cannot|failed/i.test(l)) ?? r.out.split('\n')[0];
    void vscode.window.showWarningMessage(`Thebacknd: the local timer is not running: ${why}`, 'Show Log').then((pick) => pick && ctx.output.show(true));
  }
}
