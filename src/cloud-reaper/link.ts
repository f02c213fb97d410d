// What a run needs from a deployed cloud reaper to let its machine destroy itself, and what goes in user-data:
// the URL, the web action's auth string, the run id and that run's code, never the secret the code comes from.

import type { UserDataReaper } from '../agent/user-data';
import { destroyCode } from './destroy-code';

export interface ReaperLink {
  /** The destroy-self web action's URL. */
  url: string;
  /** Its `require-whisk-auth` value, sent as X-Require-Whisk-Auth. */
  whiskAuth: string;
  /** SECRET: the HMAC key of the codes; stays with the caller. */
  secret: string;
}

export function reaperUserData(link: ReaperLink, runId: string): UserDataReaper {
  return { url: link.url, auth: link.whiskAuth, runId, code: destroyCode(link.secret, runId) };
}

/** The extension's SecretStorage key for the link (the CLI keeps the same in its state folder, local-state.ts). */
export const REAPER_SECRET_KEY = 'thebacknd.reaper';

export function encodeReaperLink(link: ReaperLink): string {
  return JSON.stringify({ url: link.url, whiskAuth: link.whiskAuth, secret: link.secret });
}

/** The stored link, or undefined when none is stored or it is unreadable (a run then simply gives no code). */
export function decodeReaperLink(text: string | undefined): ReaperLink | undefined {
  if (!text) return undefined;
  try {
    const o = JSON.parse(text) as Partial<ReaperLink>;
    if (typeof o.url === 'string' && typeof o.whiskAuth === 'string' && typeof o.secret === 'string' && o.secret.length >= 32) {
      return { url: o.url, whiskAuth: o.whiskAuth, secret: o.secret };
    }
  } catch {
    /* below */
  }
  return undefined;
}
