// Parses the boot agent's progress lines (nix/agent/thebacknd-agent.sh) into typed events. vscode-free.
//
// A line is `thebacknd: stage=NAME key=value key="quoted \"value\""…`; anything before `thebacknd:` (a journal
// prefix such as `Nov 23 12:00:01 host thebacknd-agent[812]: `) is ignored, and so are lines without the prefix
// (the output of switch-to-configuration or of a binary, which the boot-log view shows as they are).

export type FailureReason =
  | 'metadata-unreachable'
  | 'bad-user-data'
  | 'bad-config'
  | 'state-dir'
  | 'keys'
  | 'credentials-timeout'
  | 'closure-timeout'
  | 'narinfo-timeout'
  | 'cache-unreachable'
  | 'cache-unauthorized'
  | 'untrusted-signature'
  | 'missing-path'
  | 'fetch-failed'
  | 'not-a-toplevel'
  | 'not-executable'
  | 'profile'
  | 'switch-failed'
  | 'missing-tool'
  | 'usage';

export type AgentEvent =
  | { stage: 'metadata'; url: string; provider: string }
  /** `host` is the installed host key's type (`ssh-ed25519`) or `none`. */
  | { stage: 'keys'; hostKey: string; authorizedKeys: number }
  | { stage: 'credentials'; waitSeconds: number | undefined }
  | { stage: 'cache'; url: string }
  /** `ssh` (no cache): the agent waits for the extension to copy the closure over SSH; `cache`: for the push to
   * write the toplevel's narinfo (the machine is created while the closure is still being pushed). */
  | { stage: 'closure'; source: string; waitSeconds: number | undefined; path: string }
  /** `done` paths of `total` have started downloading; bytes are the download sizes of those paths, when known. */
  | { stage: 'fetch'; done: number; total: number; bytesDone: number | undefined; bytesTotal: number | undefined }
  | { stage: 'profile'; path: string }
  | { stage: 'switch'; toplevel: string }
  | { stage: 'run'; path: string }
  | { stage: 'poweroff'; exitCode: number }
  /** switch-to-configuration exited 100: the toplevel is the boot default and the machine reboots into it. */
  | { stage: 'reboot'; toplevel: string }
  | { stage: 'done'; result: 'switched' | 'current' | 'bare'; toplevel: string | undefined }
  | { stage: 'failed'; reason: FailureReason | string; message: string; path: string | undefined; url: string | undefined }
  /** A stage this version does not know (a newer image): kept so that nothing is lost. */
  | { stage: 'other'; name: string; fields: Record<string, string> };

export type AgentStage = AgentEvent['stage'];

const PREFIX = 'thebacknd: ';

/** The key=value fields of a stage line, or undefined when the line is not one. */
export function parseFields(line: string): Record<string, string> | undefined {
  const at = line.indexOf(PREFIX + 'stage=');
  if (at < 0) return undefined;
  const text = line.slice(at + PREFIX.length).replace(/\r?\n$/, '');
  const fields: Record<string, string> = {};
  const re = /\s*([A-Za-z][\w-]*)=(?:"((?:[^"\\]|\\.)*)"|(\S*))/y;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    const key = m[1] as string;
    fields[key] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '');
    if (re.lastIndex >= text.length) break;
  }
  return fields.stage ? fields : undefined;
}

export function parseAgentLine(line: string): AgentEvent | undefined {
  const f = parseFields(line);
  if (!f) return undefined;
  switch (f.stage) {
    case 'metadata':
      return { stage: 'metadata', url: f.url ?? '', provider: f.provider ?? 'auto' };
    case 'keys':
      return { stage: 'keys', hostKey: f.host ?? 'none', authorizedKeys: int(f.authorized) ?? 0 };
    case 'credentials':
      return { stage: 'credentials', waitSeconds: int(f.wait?.replace(/s$/, '')) };
    case 'cache':
      return { stage: 'cache', url: f.url ?? '' };
    case 'closure':
      return { stage: 'closure', source: f.source ?? 'ssh', waitSeconds: int(f.wait?.replace(/s$/, '')), path: f.path ?? '' };
    case 'fetch': {
      const [done, total] = ratio(f.paths);
      const [bytesDone, bytesTotal] = ratio(f.bytes);
      return { stage: 'fetch', done: done ?? 0, total: total ?? 0, bytesDone, bytesTotal };
    }
    case 'profile':
      return { stage: 'profile', path: f.path ?? '' };
    case 'switch':
      return { stage: 'switch', toplevel: f.toplevel ?? '' };
    case 'run':
      return { stage: 'run', path: f.path ?? '' };
    case 'poweroff':
      return { stage: 'poweroff', exitCode: int(f.exit) ?? -1 };
    case 'reboot':
      return { stage: 'reboot', toplevel: f.toplevel ?? '' };
    case 'done': {
      const result = f.result === 'switched' || f.result === 'current' ? f.result : 'bare';
      return { stage: 'done', result, toplevel: f.toplevel };
    }
    case 'failed':
      return { stage: 'failed', reason: f.reason ?? 'unknown', message: f.message ?? '', path: f.path, url: f.url };
    default: {
      const { stage, ...fields } = f;
      return { stage: 'other', name: stage as string, fields };
    }
  }
}

/** After one of these the agent prints nothing more. */
export function isTerminal(ev: AgentEvent): boolean {
  return ev.stage === 'done' || ev.stage === 'failed' || ev.stage === 'poweroff';
}

/** Feeds text in arbitrary chunks (an SSH stream) and hands out events as complete lines arrive. */
export class AgentLogParser {
  private rest = '';
  readonly events: AgentEvent[] = [];

  constructor(private readonly onEvent?: (ev: AgentEvent, line: string) => void) {}

  push(chunk: string): AgentEvent[] {
    const lines = (this.rest + chunk).split('\n');
    this.rest = lines.pop() ?? '';
    return this.take(lines);
  }

  /** Flushes a last line that had no newline. */
  end(): AgentEvent[] {
    const last = this.rest;
    this.rest = '';
    return last ? this.take([last]) : [];
  }

  get last(): AgentEvent | undefined {
    return this.events[this.events.length - 1];
  }

  private take(lines: string[]): AgentEvent[] {
    const out: AgentEvent[] = [];
    for (const line of lines) {
      const ev = parseAgentLine(line);
      if (!ev) continue;
      out.push(ev);
      this.events.push(ev);
      this.onEvent?.(ev, line);
    }
    return out;
  }
}

/** One short sentence for a progress notification or the boot-log view's status line. */
export function describeAgentEvent(ev: AgentEvent): string {
  switch (ev.stage) {
    case 'metadata':
      return 'Reading user-data from the metadata service';
    case 'keys':
      return ev.hostKey === 'none' ? 'No host key in user-data' : 'Installed the pinned host key and login keys';
    case 'credentials':
      return 'Waiting for the cache credentials';
    case 'cache':
      return `Using the binary cache ${ev.url}`;
    case 'closure':
      return ev.source === 'cache' ? 'Waiting for the push to complete the closure in the cache' : 'Waiting for the closure to arrive over SSH';
    case 'fetch': {
      const bytes = ev.bytesTotal ? ` (${mib(ev.bytesDone ?? 0)} of ${mib(ev.bytesTotal)})` : '';
      return ev.total === 0 ? 'Everything is already in the store' : `Fetching paths ${ev.done}/${ev.total}${bytes}`;
    }
    case 'profile':
      return 'Set the system profile';
    case 'switch':
      return 'Switching to the new configuration';
    case 'run':
      return `Running ${ev.path}`;
    case 'reboot':
      return 'Rebooting into the new configuration (it cannot be switched to live)';
    case 'poweroff':
      return `The program exited with status ${ev.exitCode}; powering off`;
    case 'done':
      return ev.result === 'switched' ? 'Switched to the new configuration' : ev.result === 'current' ? 'Already running this configuration' : 'Running the base image';
    case 'failed':
      return `Boot failed (${ev.reason}): ${ev.message}`;
    case 'other':
      return ev.name;
  }
}

function int(v: string | undefined): number | undefined {
  if (v === undefined || !/^-?\d+$/.test(v)) return undefined;
  return Number(v);
}

/** `done/total` of a stage field (`paths=3/7`, `bytes=…/…`), each undefined unless both are whole numbers. */
export function ratio(v: string | undefined): [number | undefined, number | undefined] {
  const m = v?.match(/^(\d+)\/(\d+)$/);
  return m ? [Number(m[1]), Number(m[2])] : [undefined, undefined];
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}
