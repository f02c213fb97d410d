// What the Output channel says about listing: the tree shows a failed list as a row whose tooltip holds the reason,
// and retries quietly; the log gets one line when a provider starts failing (or fails for another reason) and one
// when it lists again, never a line per retry.
import { PROVIDER_LABEL } from '../base/tokens';
import type { ProviderId } from '../providers/types';
import type { ProviderSnapshot } from './service';

export interface LogLine {
  level: 'info' | 'warn';
  text: string;
}

export class ListingLog {
  /** The reason each provider's list last failed with; absent while it lists fine. */
  private readonly failing = new Map<ProviderId, string>();

  /** The lines this snapshot adds. A missing token is a state the tree shows, not a failure to log. */
  lines(snapshot: readonly ProviderSnapshot[]): LogLine[] {
    const out: LogLine[] = [];
    // A provider gone from the view (no token, no endpoint) has nothing left to recover.
    for (const id of [...this.failing.keys()]) if (!snapshot.some((p) => p.id === id)) this.failing.delete(id);
    for (const p of snapshot) {
      const label = PROVIDER_LABEL[p.id];
      const reason = p.tokenSource && p.error ? p.error.message : undefined;
      const before = this.failing.get(p.id);
      if (reason !== undefined && reason !== before) {
        out.push({ level: 'warn', text: `Listing ${label} machines failed: ${reason} Retrying.` });
        this.failing.set(p.id, reason);
      } else if (reason === undefined && before !== undefined) {
        if (p.loaded && p.tokenSource) {
          out.push({ level: 'info', text: `Listing ${label} machines works again.` });
          this.failing.delete(p.id);
        } else if (!p.tokenSource) {
          this.failing.delete(p.id); // no token: nothing lists, so nothing works again
        }
        // Otherwise a new configuration not listed yet: its first answer says whether it works again.
      }
    }
    return out;
  }
}
