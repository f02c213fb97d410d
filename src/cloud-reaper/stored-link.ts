// The extension's copy of the deployed reaper's link (destroy-self URL, auth string, secret), kept in VS Code's
// SecretStorage under link.ts's REAPER_SECRET_KEY as JSON (the CLI keeps the same in reaper.json, local-state.ts;
// decodeReaperLink reads this JSON too). It records the DigitalOcean
// endpoint it was deployed through: a link is used only while the extension talks to that same endpoint, so a
// reaper deployed on the emulator never ends up in the user-data of a machine on the real cloud, or the reverse.

import type { ReaperLink } from './link';

export interface StoredLink extends ReaperLink {
  namespace: string;
  intervalMinutes: number;
  deployedAt: string;
  /** The DigitalOcean API endpoint of the deploy; '' for the real cloud. */
  endpoint: string;
}

export function storedLinkJson(link: ReaperLink, o: { namespace: string; intervalMinutes: number; endpoint: string; now?: Date }): string {
  const stored: StoredLink = { ...link, namespace: o.namespace, intervalMinutes: o.intervalMinutes, deployedAt: (o.now ?? new Date()).toISOString(), endpoint: o.endpoint };
  return JSON.stringify(stored);
}

/** The link to give new machines, or undefined: nothing stored, unreadable, or deployed through another endpoint. */
export function usableLink(json: string | undefined, endpoint: string): ReaperLink | undefined {
  if (!json) return undefined;
  let o: Partial<StoredLink>;
  try {
    o = JSON.parse(json) as Partial<StoredLink>;
  } catch {
    return undefined;
  }
  if (typeof o.url !== 'string' || !/^https?:\/\//.test(o.url) || typeof o.whiskAuth !== 'string' || typeof o.secret !== 'string' || o.secret.length < 32) return undefined;
  if ((o.endpoint ?? '') !== endpoint.trim()) return undefined;
  return { url: o.url, whiskAuth: o.whiskAuth, secret: o.secret };
}
