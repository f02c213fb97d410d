// What every subcommand gets: output streams, the settings, and the providers chosen by the global options.
// Tokens: --token-file (with --provider), else DIGITALOCEAN_ACCESS_TOKEN / HCLOUD_TOKEN. Endpoints: --endpoint (with
// --provider), else THEBACKND_DO_ENDPOINT / THEBACKND_HCLOUD_ENDPOINT, else the real cloud.

import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { UserError } from '../base/errors';
import { DEFAULTS, type Settings } from '../base/settings';
import { PROVIDER_LABEL, PROVIDERS, TOKEN_ENV } from '../base/tokens';
import { createProvider, type ProviderOptions } from '../providers';
import type { CloudProvider, ProviderId } from '../providers/types';
import { providerProblem } from './placement';
import { UsageError } from './command';
import { runTokenCommandSync, TOKEN_COMMAND_ENV } from '../base/token-command';

export const ENDPOINT_ENV: Record<ProviderId, string> = {
  digitalocean: 'THEBACKND_DO_ENDPOINT',
  hetzner: 'THEBACKND_HCLOUD_ENDPOINT',
};

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin?: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
  /** Cancels the command (raw commands use it; Ctrl-C otherwise). */
  signal?: AbortSignal;
  /** A person at a terminal: destructive commands ask first. */
  interactive: boolean;
  /** Extra client options (tests shorten retries with it). */
  providerOptions?: Partial<ProviderOptions>;
}

export interface GlobalOptions {
  provider?: string;
  tokenFile?: string;
  /** A command printing the token of --provider (see base/token-command.ts). */
  tokenCommand?: string;
  endpoint?: string;
}

export class CliContext {
  readonly settings: Settings = DEFAULTS;
  /** Every token read, so error text can be redacted. */
  readonly secrets: string[] = [];
  private readonly explicit: ProviderId | undefined;
  private readonly tokens: Partial<Record<ProviderId, string>> = {};
  /** Token commands not run yet: run when that provider is first used, not for every provider up front. */
  private readonly commands: Partial<Record<ProviderId, string>> = {};

  constructor(
    readonly io: CliIo,
    readonly globals: GlobalOptions,
  ) {
    const problem = providerProblem(globals.provider);
    if (problem) throw new UsageError(problem);
    this.explicit = globals.provider as ProviderId | undefined;
    const perProvider = globals.tokenFile ? '--token-file' : globals.tokenCommand ? '--token-command' : globals.endpoint ? '--endpoint' : undefined;
    if (!this.explicit && perProvider) throw new UsageError(`${perProvider} applies to one provider: add --provider digitalocean|hetzner.`);
    if (globals.tokenFile && globals.tokenCommand) throw new UsageError('--token-file and --token-command both name the token: use one.');
    for (const id of PROVIDERS) {
      const command = this.explicit === id && globals.tokenCommand ? globals.tokenCommand : undefined;
      const t = command ? undefined : this.readToken(id);
      if (t) {
        this.tokens[id] = t;
        this.secrets.push(t);
      } else {
        const c = command ?? io.env[TOKEN_COMMAND_ENV[id]]?.trim();
        if (c) this.commands[id] = c;
      }
    }
  }

  out(line: string): void {
    this.io.stdout.write(`${line}\n`);
  }

  err(line: string): void {
    this.io.stderr.write(`${line}\n`);
  }

  /** --provider, or every provider with a token (list-like commands). */
  providers(): CloudProvider[] {
    if (this.explicit) return [this.provider(this.explicit)];
    const ids = PROVIDERS.filter((id) => this.hasToken(id));
    if (!ids.length) throw noToken();
    return ids.map((id) => this.provider(id));
  }

  /** --provider, else the only provider with a token, else the default provider. */
  oneProvider(): CloudProvider {
    if (this.explicit) return this.provider(this.explicit);
    const ids = PROVIDERS.filter((id) => this.hasToken(id));
    if (!ids.length) throw noToken();
    return this.provider(ids.length === 1 ? ids[0]! : this.settings.defaultProvider);
  }

  provider(id: ProviderId): CloudProvider {
    const endpoint = this.endpoint(id);
    return createProvider(id, { ...this.io.providerOptions, token: this.token(id), ...(endpoint ? { endpoint } : {}) });
  }

  /** The provider chosen with --provider (commands that need one name it in their message). */
  get chosen(): ProviderId | undefined {
    return this.explicit;
  }

  /** The token of `id` (--token-file with --provider, else the environment); for clients other than CloudProvider. */
  token(id: ProviderId): string {
    const token = this.tokenOf(id);
    if (!token) {
      throw new UserError(`No ${PROVIDER_LABEL[id]} token: set ${TOKEN_ENV[id]} or pass --token-file FILE with --provider ${id}.`, {
        kind: 'setToken',
        provider: id,
      });
    }
    return token;
  }

  /** The API base URL of `id`: --endpoint with --provider, else the environment, else undefined (the real cloud). */
  endpoint(id: ProviderId): string | undefined {
    return (this.explicit === id ? this.globals.endpoint : undefined) ?? (this.io.env[ENDPOINT_ENV[id]] || undefined);
  }

  /** The raw token and endpoint of one provider, for commands that hand them on (the cloud reaper's deploy binds them). */
  credentials(id: ProviderId): { token?: string; endpoint?: string } {
    const token = this.tokenOf(id);
    const endpoint = (this.explicit === id ? this.globals.endpoint : undefined) ?? this.io.env[ENDPOINT_ENV[id]];
    return { ...(token ? { token } : {}), ...(endpoint ? { endpoint } : {}) };
  }

  /** --provider when given. */
  get explicitProvider(): ProviderId | undefined {
    return this.explicit;
  }

  /** Asks on a terminal; anything but yes is no. */
  async confirm(question: string): Promise<boolean> {
    if (!this.io.stdin) return false;
    const rl = createInterface({ input: this.io.stdin, terminal: false });
    try {
      this.io.stderr.write(`${question} [y/N] `);
      const answer = await new Promise<string>((resolve) => {
        rl.once('line', resolve);
        rl.once('close', () => resolve(''));
      });
      return /^y(es)?$/i.test(answer.trim());
    } finally {
      rl.close();
    }
  }

  private tokenOf(id: ProviderId): string | undefined {
    const command = this.commands[id];
    if (command && !this.tokens[id]) {
      delete this.commands[id];
      const t = runTokenCommandSync(id, command, { env: this.io.env });
      this.tokens[id] = t;
      this.secrets.push(t);
    }
    return this.tokens[id];
  }

  /** A token, or a command that gives one, without running the command. */
  private hasToken(id: ProviderId): boolean {
    return Boolean(this.tokens[id] || this.commands[id]);
  }

  private readToken(id: ProviderId): string | undefined {
    if (this.globals.tokenFile && this.explicit === id) {
      try {
        const t = readFileSync(this.globals.tokenFile, 'utf8').trim();
        if (t) return t;
      } catch (e) {
        throw new UserError(`Cannot read the token file ${this.globals.tokenFile} (${(e as NodeJS.ErrnoException).code ?? 'error'}).`);
      }
      throw new UserError(`The token file ${this.globals.tokenFile} is empty.`);
    }
    return this.io.env[TOKEN_ENV[id]]?.trim() || undefined;
  }
}

function noToken(): UserError {
  return new UserError(`No cloud token: set ${TOKEN_ENV.digitalocean} and/or ${TOKEN_ENV.hetzner}, or pass --token-file FILE with --provider.`);
}
