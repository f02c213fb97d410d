// How the Machines view and the status bar say what reaps a provider's machines while VS Code is closed: the cloud
// reaper ("Cloud reaper: last pass 3 min ago"), a local timer, or nothing (a warning row that offers a fix: Deploy
// Cloud Reaper… with a DigitalOcean token, else the local timer). Pure and vscode-free, like present.ts.

import type { ReaperActivation } from '../cloud-reaper/deploy';
import type { ReaperSnapshot } from '../cloud-reaper/watch';
import { PROVIDER_LABEL } from '../base/tokens';
import type { ProviderId } from '../providers/types';
import { formatDuration, md, type IconSpec } from './present';

export const DEPLOY_REAPER_COMMAND = 'thebacknd.deployCloudReaper';
export const LOCAL_REAPER_COMMAND = 'thebacknd.installLocalReaper';

export type ReaperCoverage = 'cloud' | 'local' | 'none' | 'unknown';

export interface ReaperRow {
  label: string;
  description: string;
  /** Markdown. */
  tooltip: string;
  icon: IconSpec;
  /** `reaper:cloud`, `reaper:cloud+late`, `reaper:local`, `reaper:none`, `reaper:unknown`. */
  contextValue: string;
  command: { id: string; args: unknown[] } | undefined;
  coverage: ReaperCoverage;
  /** Something needs the user: the status bar says so too. */
  warning: boolean;
}

/** The period of a cron of cronFor()'s forms, in minutes (`*\/20 * * * *` → 20, `0 *\/2 * * *` → 120). */
export function cronPeriodMinutes(cron: string): number | undefined {
  if (cron === '* * * * *') return 1;
  if (cron === '0 * * * *') return 60;
  const m = /^\*\/(\d+) \* \* \* \*$/.exec(cron);
  if (m) return Number(m[1]);
  const h = /^0 \*\/(\d+) \* \* \*$/.exec(cron);
  return h ? Number(h[1]) * 60 : undefined;
}

/** `just now`, `3 min ago`, `1h 05m ago`. */
export function ago(ms: number): string {
  if (ms < 60_000) return 'just now';
  return ms < 3_600_000 ? `${Math.floor(ms / 60_000)} min ago` : `${formatDuration(ms)} ago`;
}

function lastPass(activations: readonly ReaperActivation[]): ReaperActivation | undefined {
  return activations.find((a) => a.action === 'destroy-old');
}

function activationLine(a: ReaperActivation, nowMs: number): string {
  const what = a.ok ? (a.destroyed.length ? `destroyed ${a.destroyed.map(md).join(', ')}` : 'nothing to destroy') : `failed: ${md(a.error ?? 'unknown error')}`;
  return `- ${md(a.action)} ${ago(nowMs - Date.parse(a.at))}: ${what}`;
}

const NO_REAPER_WHY = "While no VS Code window runs, nothing destroys this provider's machines when their deadline passes: they bill until VS Code opens again.";

/**
 * The reaper row under a provider. `hasDigitalOceanToken`: the cloud reaper can be deployed (it runs on DigitalOcean
 * Functions and reaps Hetzner machines too). `nowMs` is the DigitalOcean clock when known (activation times are).
 */
export function reaperRow(provider: ProviderId, snap: ReaperSnapshot | undefined, o: { nowMs: number; hasDigitalOceanToken: boolean }): ReaperRow | undefined {
  if (!snap) return undefined;
  const label = PROVIDER_LABEL[provider];
  const cloud = snap.cloud;
  const local = snap.local[provider];
  const deploy = { id: DEPLOY_REAPER_COMMAND, args: [] };
  const installLocal = { id: LOCAL_REAPER_COMMAND, args: [provider] };

  if (cloud?.status.namespace && cloud.providers.includes(provider)) {
    const s = cloud.status;
    const period = s.trigger ? cronPeriodMinutes(s.trigger.cron) : undefined;
    const where = `Namespace \`${md(s.namespace!)}\`${s.region ? ` (${md(s.region)})` : ''}`;
    const recent = s.activations.slice(0, 5).map((a) => activationLine(a, o.nowMs));
    const tip = (head: string) =>
      [
        `**Cloud reaper** (DigitalOcean Functions) · ${label}`,
        head,
        where,
        ...(s.trigger ? [`Schedule: \`${md(s.trigger.cron)}\`${period ? ` (every ${period} min)` : ''}`] : []),
        ...(recent.length ? ['Last activations:', ...recent] : []),
      ].join('\n\n');
    if (!s.deployed || !s.trigger || !s.trigger.enabled) {
      const what = !s.trigger ? 'no schedule' : !s.trigger.enabled ? 'schedule paused' : 'actions missing';
      return {
        label: `Cloud reaper: ${what}`,
        description: 'click to deploy again',
        tooltip: tip(`destroy-old does not run on a schedule (${what}): deploy the reaper again.`),
        icon: { id: 'warning', color: 'list.warningForeground' },
        contextValue: 'reaper:cloud+broken',
        command: deploy,
        coverage: 'cloud',
        warning: true,
      };
    }
    const last = lastPass(s.activations);
    const lastAt = last ? Date.parse(last.at) : s.trigger.lastRunAt ? Date.parse(s.trigger.lastRunAt) : undefined;
    const every = period ? `every ${period} min` : `\`${s.trigger.cron}\``;
    if (lastAt === undefined || !Number.isFinite(lastAt)) {
      const next = s.trigger.nextRunAt ? Date.parse(s.trigger.nextRunAt) - o.nowMs : undefined;
      return {
        label: 'Cloud reaper: no pass yet',
        description: next !== undefined && next > 0 ? `first pass in ${formatDuration(next)}` : every,
        tooltip: tip(`Deployed; destroy-old runs ${every}.`),
        icon: { id: 'clock', color: undefined },
        contextValue: 'reaper:cloud',
        command: undefined,
        coverage: 'cloud',
        warning: false,
      };
    }
    const age = Math.max(0, o.nowMs - lastAt);
    // Two periods and a minute without a pass: a missed run, not a pass still to come.
    const late = period !== undefined && age > (2 * period + 1) * 60_000;
    const failed = last !== undefined && !last.ok;
    if (late || failed) {
      return {
        label: `Cloud reaper: last pass ${ago(age)}`,
        description: failed ? 'it failed · click to deploy again' : `late (${every}) · click to deploy again`,
        tooltip: tip(failed ? `The last pass failed: ${md(last?.error ?? 'unknown error')}` : `No pass for ${formatDuration(age)}, though it runs ${every}.`),
        icon: { id: 'warning', color: 'list.warningForeground' },
        contextValue: `reaper:cloud+${failed ? 'failed' : 'late'}`,
        command: deploy,
        coverage: 'cloud',
        warning: true,
      };
    }
    return {
      label: `Cloud reaper: last pass ${ago(age)}`,
      description: every,
      tooltip: tip(`Machines past their deadline are destroyed ${every}, with VS Code closed too.`),
      icon: { id: 'pass', color: 'charts.green' },
      contextValue: 'reaper:cloud',
      command: undefined,
      coverage: 'cloud',
      warning: false,
    };
  }

  if (local) {
    const every = local.everyMinutes ? `every ${local.everyMinutes} min` : 'on a timer';
    const how = local.kind === 'systemd' ? 'a systemd user timer' : 'a launchd agent';
    return {
      label: `Local reaper timer: ${every}`,
      description: 'while this computer is on',
      tooltip: [
        `**Local reaper timer** · ${label}`,
        `\`thebacknd destroy-old\` runs ${every} from ${how} on this computer, with VS Code closed too; not while the computer sleeps or is off.`,
        'Remove it with `thebacknd reaper install --local --remove`.',
      ].join('\n\n'),
      icon: { id: 'clock', color: undefined },
      contextValue: 'reaper:local',
      command: undefined,
      coverage: 'local',
      warning: false,
    };
  }

  if (snap.cloudError && o.hasDigitalOceanToken) {
    return {
      label: 'Cloud reaper: status unknown',
      description: 'click to retry',
      tooltip: `**Cloud reaper** · ${label}\n\nIts status could not be read: ${md(snap.cloudError)}`,
      icon: { id: 'question', color: undefined },
      contextValue: 'reaper:unknown',
      command: { id: 'thebacknd.refresh', args: [] },
      coverage: 'unknown',
      warning: false,
    };
  }

  // Nothing reaps this provider while VS Code is closed.
  const notBound = cloud?.status.namespace !== undefined && o.hasDigitalOceanToken;
  if (o.hasDigitalOceanToken) {
    return {
      label: notBound ? `Cloud reaper: not for ${label}` : 'No reaper while VS Code is closed',
      description: notBound ? 'click to deploy again with its token' : 'click to deploy the cloud reaper',
      tooltip: `**${label}** · ${NO_REAPER_WHY}\n\n${notBound ? `The cloud reaper holds no ${label} token: deploy it again, now that one is set.` : '**Deploy Cloud Reaper…** runs the reaper on DigitalOcean Functions every period (within the free allowance); it reaps Hetzner machines too.'}`,
      icon: { id: 'warning', color: 'list.warningForeground' },
      contextValue: 'reaper:none',
      command: deploy,
      coverage: 'none',
      warning: true,
    };
  }
  return {
    label: 'No reaper while VS Code is closed',
    description: 'click to install a local timer',
    tooltip: `**${label}** · ${NO_REAPER_WHY}\n\nWithout DigitalOcean Functions, a timer on this computer can run \`thebacknd destroy-old\` every period (\`thebacknd reaper install --local\`), while the computer is on.`,
    icon: { id: 'warning', color: 'list.warningForeground' },
    contextValue: 'reaper:none',
    command: installLocal,
    coverage: 'none',
    warning: true,
  };
}

/** The status bar tooltip's section: one line per provider, with the fix as a command link. */
export function reaperTooltipLines(rows: readonly { provider: ProviderId; row: ReaperRow }[]): string[] {
  if (!rows.length) return [];
  return [
    '**While VS Code is closed**',
    '',
    ...rows.map(({ provider, row }) => {
      const link =
        row.command && row.warning
          ? ` — [${row.command.id === DEPLOY_REAPER_COMMAND ? 'Deploy Cloud Reaper…' : row.command.id === LOCAL_REAPER_COMMAND ? 'Install Local Timer…' : 'Retry'}](command:${row.command.id}${row.command.args.length ? `?${encodeURIComponent(JSON.stringify(row.command.args))}` : ''})`
          : '';
      return `- $(${row.icon.id}) ${PROVIDER_LABEL[provider]}: ${md(row.label)}${row.warning ? '' : ` (${md(row.description)})`}${link}`;
    }),
  ];
}

/** The commands the tooltip's links may run (MarkdownString.isTrusted). */
export const REAPER_TOOLTIP_COMMANDS = [DEPLOY_REAPER_COMMAND, LOCAL_REAPER_COMMAND, 'thebacknd.refresh'];
