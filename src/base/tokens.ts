// Cloud tokens: SecretStorage first, then the environment variables the providers' own CLIs use, then a token
// command (thebacknd.<provider>.tokenCommand, e.g. a password manager). That order goes from the user's most explicit
// act in this editor to the costliest source: a token stored here is a choice made here; the environment variable
// is the providers' own convention and wins over the command as it does in the CLI ($THEBACKND_*_TOKEN_COMMAND is
// used when the token's variable is unset); the command may ask for a passphrase, so it runs only when nothing
// cheaper answers, once per session, and only when a token is needed (never to say whether one is configured).
// vscode-free: the extension hands in its SecretStorage and the command runner, the CLI a file or nothing.

import type { ProviderId } from './provider-id';

export const PROVIDERS: readonly ProviderId[] = ['digitalocean', 'hetzner'];
export const PROVIDER_LABEL: Record<ProviderId, string> = { digitalocean: 'DigitalOcean', hetzner: 'Hetzner' };
export const TOKEN_ENV: Record<ProviderId, string> = { digitalocean: 'DIGITALOCEAN_ACCESS_TOKEN', hetzner: 'HCLOUD_TOKEN' };

export interface SecretBackend {
  get(key: string): PromiseLike<string | undefined>;
  store(key: string, value: string): PromiseLike<void>;
  delete(key: string): PromiseLike<void>;
}

export type TokenSource = 'secret storage' | 'environment' | 'token command';
export interface ResolvedToken {
  token: string;
  source: TokenSource;
}

/** Where a provider's token command comes from and how it runs (base/token-command.ts runs it; injected, not imported). */
export interface TokenCommands {
  /** The configured command; empty or undefined for none. Read at each use, so a changed setting applies. */
  command(p: ProviderId): string | undefined;
  /** Runs it; the promise's value is the token; a failure is a UserError that names neither output nor token. */
  run(p: ProviderId, command: string): Promise<string>;
}

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
  /** Token commands run (or running) this session, by provider, with the command they ran. Failures are not kept. */
  private readonly fromCommand = new Map<ProviderId, { command: string; token: Promise<string> }>();
  /** Every token a command gave this session, kept for redaction even once forgotten. */
  private readonly answered = new Set<string>();

  constructor(
    private readonly backend: SecretBackend,
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly commands?: TokenCommands,
  ) {}

  /** The token, running the token command if it is the source and has not answered yet this session. */
  async get(p: ProviderId): Promise<ResolvedToken | undefined> {
    const cheap = await this.withoutCommand(p);
    if (cheap) return cheap;
    const command = this.command(p);
    if (!command || !this.commands) return undefined;
    let run = this.fromCommand.get(p);
    if (run?.command !== command) {
      const mine = { command, token: this.commands.run(p, command) };
      run = mine;
      this.fromCommand.set(p, mine);
      // Callers at the same time share one run; a failure is forgotten, so the next use (Refresh) runs it again.
      mine.token.then(
        (t) => void this.answered.add(t),
        () => {
          if (this.fromCommand.get(p) === mine) this.fromCommand.delete(p);
        },
      );
    }
    return { token: await run.token, source: 'token command' };
  }

  /** Where the token would come from, without running a token command. */
  async source(p: ProviderId): Promise<TokenSource | undefined> {
    return (await this.withoutCommand(p))?.source ?? (this.command(p) ? 'token command' : undefined);
  }

  /** Drops a token command's answer (the provider rejected it): the next use runs the command again. */
  forget(p: ProviderId): void {
    this.fromCommand.delete(p);
  }

  private async withoutCommand(p: ProviderId): Promise<ResolvedToken | undefined> {
    const stored = await this.backend.get(secretKey(p));
    if (stored) return { token: stored, source: 'secret storage' };
    const fromEnv = this.env[TOKEN_ENV[p]]?.trim();
    return fromEnv ? { token: fromEnv, source: 'environment' } : undefined;
  }

  private command(p: ProviderId): string | undefined {
    return this.commands?.command(p)?.trim() || undefined;
  }

  async set(p: ProviderId, token: string): Promise<void> {
    const problem = checkToken(token);
    if (problem) throw new Error(problem);
    await this.backend.store(secretKey(p), token.trim());
  }

  async clear(p: ProviderId): Promise<void> {
    await this.backend.delete(secretKey(p));
  }

  /** Providers that have a token from any source (a token command counts without being run). */
  async configured(): Promise<ProviderId[]> {
    const out: ProviderId[] = [];
    for (const p of PROVIDERS) if (await this.source(p)) out.push(p);
    return out;
  }

  /** Every token value known, for redaction of logs and messages: token commands' answers so far, none run for it. */
  async all(): Promise<string[]> {
    const out: string[] = [];
    for (const p of PROVIDERS) {
      const t = await this.withoutCommand(p);
      if (t) out.push(t.token);
    }
    return [...out, ...this.answered];
  }
}
