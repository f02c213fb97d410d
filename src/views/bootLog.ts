// Show Boot Log: one output channel per machine, fed by src/ssh/boot-log.ts. It says what it waits for before SSH
// answers, marks reconnects, and stops when the channel is replaced or the window closes.

import * as vscode from 'vscode';
import { messageOf } from '../base/errors';
import { streamBootLog, type BootLogEvent, type BootLogOptions } from '../ssh/boot-log';
import type { SshTarget } from '../ssh/session';

interface Stream {
  channel: vscode.OutputChannel;
  abort: AbortController;
}

export class BootLogViews implements vscode.Disposable {
  private readonly streams = new Map<string, Stream>();

  /** `command` overrides the remote command (test hosts have no journald). */
  constructor(private readonly defaults: Pick<BootLogOptions, 'command' | 'waitDeadlineMs'> = {}) {}

  /**
   * Shows the machine's boot log, (re)starting the stream. `onEvent` also receives every event (a run turns stages
   * into progress). Resolves when the stream ends; failures are written into the channel, not thrown.
   */
  async show(name: string, target: SshTarget, onEvent?: (e: BootLogEvent) => void): Promise<void> {
    const previous = this.streams.get(name);
    previous?.abort.abort();
    const channel = previous?.channel ?? vscode.window.createOutputChannel(`Thebacknd Boot Log: ${name}`, 'log');
    const stream: Stream = { channel, abort: new AbortController() };
    this.streams.set(name, stream);
    channel.clear();
    channel.show(true);
    const current = (): boolean => this.streams.get(name) === stream;
    try {
      await streamBootLog({ ...this.defaults, target, signal: stream.abort.signal }, (e) => {
        if (!current()) return;
        if (e.kind === 'status') channel.appendLine(`── ${e.message}`);
        else if (e.kind === 'line') channel.appendLine(e.line);
        onEvent?.(e);
      });
    } catch (err) {
      if (current()) channel.appendLine(`── ${messageOf(err)}`);
    }
  }

  /** Stops following (the machine was destroyed) and closes its channel. */
  close(name: string): void {
    const s = this.streams.get(name);
    if (!s) return;
    this.streams.delete(name);
    s.abort.abort();
    s.channel.dispose();
  }

  dispose(): void {
    for (const name of [...this.streams.keys()]) this.close(name);
  }
}
