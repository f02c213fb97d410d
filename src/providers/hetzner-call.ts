// One Hetzner Cloud API request through openapi-fetch, with its own timeout, every failure turned into an ApiError
// (HTTP error with Hetzner's code and message, timeout, or network) and the caller's abort passed through. Shared by
// the provider and the image import's extra endpoints.
import { headerRecord } from './options';
import { ApiError } from './retry';

/** What openapi-fetch resolves with. */
export interface Answer<D> {
  data?: D;
  error?: unknown;
  response: Response;
}

export async function hetznerCall<D>(
  fn: (signal: AbortSignal) => Promise<Answer<D>>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<{ data: D; headers: Record<string, string> }> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  let answer: Answer<D>;
  try {
    answer = await fn(combined);
  } catch (e) {
    if (signal?.aborted) throw signal.reason ?? e;
    if (timeout.aborted) throw new ApiError('hetzner', 'timeout', 'timed out');
    throw new ApiError('hetzner', 'network', networkCode(e));
  }
  const headers = headerRecord(answer.response.headers);
  if (!answer.response.ok) {
    const body = (answer.error ?? {}) as { error?: { code?: string; message?: string } };
    const status = answer.response.status;
    throw new ApiError('hetzner', 'http', body.error?.message ?? `HTTP ${status}`, status, body.error?.code, headers);
  }
  return { data: answer.data as D, headers };
}

/** undici reports `fetch failed` and keeps the reason (ECONNRESET, ECONNREFUSED, …) in `cause`. */
function networkCode(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (e instanceof Error ? e.message : String(e));
}
