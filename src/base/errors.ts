// Errors a user reads. Anything thrown across a layer boundary that a person will see is a UserError:
// one actionable sentence, optionally with a fix the UI can offer as a button. Never a token or a stack.

export type Fix = 'setToken' | 'openSettings' | 'installNix' | 'retry' | 'runCommand';

export class UserError extends Error {
  constructor(
    message: string,
    /** runCommand: `command` is a command id, `label` its button. */
    readonly fix?: { kind: Fix; provider?: string; setting?: string; command?: string; label?: string },
    readonly detail?: string,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/** A message safe to show: UserError text as is, anything else reduced to its first line with secrets removed. */
export function messageOf(err: unknown, secrets: readonly string[] = []): string {
  const raw = err instanceof Error ? err.message : String(err);
  const first = (err instanceof UserError ? raw : (raw.split('\n')[0] ?? raw)).trim();
  return redact(first || 'Unknown error', secrets);
}

/** Replaces every occurrence of each non-trivial secret by a fixed marker. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 6) out = out.split(s).join('«redacted»');
  return out;
}

export function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || (err as { code?: string }).code === 'ABORT_ERR');
}
