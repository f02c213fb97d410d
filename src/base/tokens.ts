// Cloud tokens: SecretStorage first, then the environment variables the providers' own CLIs use.
// vscode-free: the extension hands in its SecretStorage, the CLI a file or nothing.

import type { ProviderId } from './provider-id';

export const PROVIDERS: readonly ProviderId[] = ['digitalocean', 'hetzner'];
export const PROVIDER_LABEL: Record<ProviderId, string> = { digitalocean: 'DigitalOcean', hetzner: 'Hetzner' };
export const TOKEN_ENV: Record<ProviderId, string> = { digitalocean: 'DIGITALOCEAN_ACCESS_TOKEN', hetzner: 'HCLOUD_TOKEN' };

export interface SecretBackend {
  get(key: string): PromiseLike<string | undefined>;
  store(key: string, value: string): PromiseLike<void>;
  delete(key: string): PromiseLike<void>;
}

export interface ResolvedToken { token: string; source: 'secret storage' | 'environment' }

export const secretKey = (p: ProviderId): string => `thebacknd.token.${p}`;

/** Rejects what cannot be a token, without ever echoing the value back. */
export function checkToken(value: string): string | undefined {
  const v = value.trim();
  if (!v) return 'The token is empty.';
  if (/\s/.test(v)) return 'A token has no spaces or line breaks in it.';
  if (v.length < 16) return 'That is too short to be an API token.';
  if (v.length > 512) return 'That is too long to be an API token.';
  return undefined;
}

export class Tokens {
  constructor(
    private readonly backend: SecretBackend,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  async get(p: ProviderId): Promise<ResolvedToken | undefined> {
    const stored = await this.backend.get(secretKey(p));
    if (stored) return { token: stored, source: 'secret storage' };
    const fromEnv = this.env[TOKEN_ENV[p]]?.trim();
    return fromEnv ? { token: fromEnv, source: 'environment' } : undefined;
  }

  async set(p: ProviderId, token: string): Promise<void> {
    const problem = checkToken(token);
    if (problem) throw new Error(problem);
    await this.backend.store(secretKey(p), token.trim());
  }

  async clear(p: ProviderId): Promise<void> {
    await this.backend.delete(secretKey(p));
  }

  /** Providers that have a token from any source. */
  async configured(): Promise<ProviderId[]> {
    const out: ProviderId[] = [];
    for (const p of PROVIDERS) if (await this.get(p)) out.push(p);
    return out;
  }

  /** Every token value known, for redaction of logs and messages. */
  async all(): Promise<string[]> {
    const out: string[] = [];
    for (const p of PROVIDERS) {
      const t = await this.get(p);
      if (t) out.push(t.token);
    }
    return out;
  }
}
