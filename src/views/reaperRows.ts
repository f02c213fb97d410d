// Glue between the reaper watch (src/cloud-reaper/watch.ts: the cloud reaper's status and the local timers, cached
// for one reaper period) and what shows it: the Machines tree's reaper row per provider and the status bar's tooltip.
// Reading a row never fetches; it only asks the watch to refresh a snapshot older than a period.

import * as os from 'node:os';
import type { Services } from './services';
import type { MachineService } from '../machines/service';
import { PROVIDERS } from '../base/tokens';
import type { ProviderId } from '../providers/types';
import { installedTimer } from '../cloud-reaper/local-install';
import { timerPaths } from '../cloud-reaper/local-timer';
import { ReaperWatch, type LocalTimerInfo } from '../cloud-reaper/watch';
import { reaperRow, reaperTooltipLines, type ReaperRow } from './reaperPresent';

export interface ReaperView {
  readonly watch: ReaperWatch;
  row(provider: ProviderId): ReaperRow | undefined;
  lines(): string[];
  onDidChange(listener: () => void): { dispose(): void };
  dispose(): void;
}

export function createReaperView(ctx: Services, service: MachineService): ReaperView {
  const watch = new ReaperWatch({
    async digitalocean() {
      const t = await ctx.tokens.get('digitalocean');
      if (!t) return undefined;
      const endpoint = ctx.settings().digitalocean.endpoint.trim();
      return { token: t.token, ...(endpoint ? { endpoint } : {}) };
    },
    localTimers() {
      const paths = timerPaths(process.env, os.homedir());
      const out: Partial<Record<ProviderId, LocalTimerInfo>> = {};
      for (const p of PROVIDERS) {
        const t = installedTimer(paths, p);
        if (t) out[p] = { kind: t.kind, everyMinutes: t.everyMinutes };
      }
      return out;
    },
    periodMs: () => ctx.settings().reapIntervalMinutes * 60_000,
  });
  const withToken = () => service.snapshot().filter((p) => p.tokenSource);
  const row = (provider: ProviderId): ReaperRow | undefined => {
    watch.ensureFresh();
    const hasDigitalOceanToken = withToken().some((p) => p.id === 'digitalocean');
    return reaperRow(provider, watch.snapshot(), { nowMs: service.serverNow('digitalocean'), hasDigitalOceanToken });
  };
  // A token or endpoint change may change the answer: fetch again at the next look.
  const sub = ctx.onDidChangeAccounts(() => watch.invalidate());
  return {
    watch,
    row,
    lines: () => reaperTooltipLines(withToken().flatMap((p) => ((r) => (r ? [{ provider: p.id, row: r }] : []))(row(p.id)))),
    onDidChange: (listener) => watch.onDidChange(listener),
    dispose: () => sub.dispose(),
  };
}
