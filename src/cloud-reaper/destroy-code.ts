// The per-machine destroy-self code: HMAC-SHA256 of the machine's run id under the reaper's secret, in hex. A machine
// carries its own code in user-data (never the secret), which can destroy that one machine and no other: another run
// id gives another code, and the secret cannot be recovered from a code.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** 32 random bytes, hex: the secret the deploy binds to destroy-self (and keeps for computing codes). */
export function newReaperSecret(): string {
  return randomBytes(32).toString('hex');
}

export function destroyCode(secret: string, runId: string): string {
  return createHmac('sha256', secret).update(runId, 'utf8').digest('hex');
}

/** Constant-time: how much of a guess matches must not show in the answer's timing. */
export function codeMatches(secret: string, runId: string, code: string): boolean {
  const want = Buffer.from(destroyCode(secret, runId), 'hex');
  const got = /^[0-9a-f]{64}$/i.test(code) ? Buffer.from(code, 'hex') : Buffer.alloc(want.length);
  return timingSafeEqual(want, got) && got.length === want.length && /^[0-9a-f]{64}$/i.test(code);
}
