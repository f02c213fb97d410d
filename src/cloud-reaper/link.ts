// What a run needs from a deployed cloud reaper to let its machine destroy itself, and what goes in user-data:
// the URL, the web action's auth string, the run id and that run's code, never the secret the code comes from.

import type { UserDataReaper } from '../core/user-data';
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
