// An interactive shell on a machine, as a terminal sees it: text out, keystrokes in, resizes, one exit. vscode-free
// so it is tested against a real sshd; src/views/terminal.ts adapts it to a Pseudoterminal.

import { StringDecoder } from 'node:string_decoder';
import type { ClientChannel } from 'ssh2';
import { messageOf } from '../base/errors';
import type { SshSession } from './session';

export interface TerminalIo {
  /** Text for the terminal, line ends already `\r\n`. */
  write(text: string): void;
  /** The terminal should close; `code` is the remote exit status when there is one. */
  close(code: number | undefined): void;
}

export interface Dimensions {
  cols: number;
  rows: number;
}

/** A coloured notice for the terminal; `\n` becomes `\r\n` (a terminal moves down, not back, on a bare `\n`). */
export function terminalNotice(text: string, color: 'red' | 'dim' = 'dim'): string {
  const code = color === 'red' ? '31' : '2';
  return `\x1b[${code}m${text.replace(/\r?\n/g, '\r\n')}\x1b[0m\r\n`;
}

export class ShellBridge {
  private channel: ClientChannel | undefined;
  private session: SshSession | undefined;
  private pending: string[] = [];
  private dims: Dimensions = { cols: 80, rows: 24 };
  /** After a failure or an abnormal exit the terminal stays to show why; the next key closes it. */
  private waitingForKey: number | undefined | null = null;
  private done = false;

  constructor(
    private readonly connect: () => Promise<SshSession>,
    private readonly io: TerminalIo,
    private readonly label: string,
  ) {}

  async open(initial: Dimensions | undefined): Promise<void> {
    if (initial) this.dims = initial;
    this.io.write(terminalNotice(`Connecting to ${this.label}…`));
    try {
      this.session = await this.connect();
      if (this.done) return this.session.close();
      const { channel, exited } = await this.session.shell({ ...this.dims, term: 'xterm-256color' });
      this.channel = channel;
      const decoder = new StringDecoder('utf8');
      channel.on('data', (d: Buffer) => this.io.write(decoder.write(d)));
      channel.stderr.on('data', (d: Buffer) => this.io.write(decoder.write(d)));
      void exited.then((r) => this.ended(r.code ?? undefined, r.signal ?? undefined));
      for (const p of this.pending.splice(0)) channel.write(p);
    } catch (err) {
      this.session?.close();
      if (this.done) return;
      this.io.write(terminalNotice(messageOf(err), 'red'));
      this.holdOpen(undefined);
    }
  }

  /** Keystrokes from the user. */
  input(data: string): void {
    if (this.waitingForKey !== null) {
      const code = this.waitingForKey;
      this.waitingForKey = null;
      this.finish(code);
      return;
    }
    if (this.channel) this.channel.write(data);
    else if (!this.done) this.pending.push(data);
  }

  resize(dims: Dimensions): void {
    this.dims = dims;
    this.channel?.setWindow(dims.rows, dims.cols, 0, 0);
  }

  /** The user closed the terminal. */
  dispose(): void {
    this.done = true;
    this.channel?.close();
    this.session?.close();
  }

  private ended(code: number | undefined, signal: string | undefined): void {
    this.session?.close();
    if (this.done) return;
    if (code === 0) return this.finish(0);
    const why = code !== undefined ? `exit status ${code}` : signal ? `killed by ${signal}` : 'the connection was lost';
    this.io.write('\r\n' + terminalNotice(`Connection to ${this.label} closed (${why}).`, code === undefined ? 'red' : 'dim'));
    this.holdOpen(code);
  }

  private holdOpen(code: number | undefined): void {
    this.io.write(terminalNotice('Press any key to close this terminal.'));
    this.waitingForKey = code;
  }

  private finish(code: number | undefined): void {
    if (this.done) return;
    this.done = true;
    this.io.close(code);
  }
}
