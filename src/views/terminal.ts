// Open Terminal: a Pseudoterminal over an ssh2 shell that only accepts the machine's pinned host key. The shell
// logic (PTY, resize, exit status, errors) lives in src/ssh/shell.ts; this file only adapts it to VS Code.

import * as vscode from 'vscode';
import { ShellBridge } from '../ssh/shell';
import { SshSession, type SshTarget } from '../ssh/session';

export interface SshTerminalOptions {
  /** Terminal tab title, e.g. `thebacknd-3`. */
  name: string;
  target: SshTarget;
  /** Connect plus handshake; default 20 s. */
  timeoutMs?: number;
}

export function openSshTerminal(opts: SshTerminalOptions): vscode.Terminal {
  const write = new vscode.EventEmitter<string>();
  const close = new vscode.EventEmitter<number | void>();
  const label = `${opts.target.username ?? 'root'}@${opts.target.host}`;
  const bridge = new ShellBridge(
    () => SshSession.connect(opts.target, { timeoutMs: opts.timeoutMs ?? 20_000 }),
    { write: (text) => write.fire(text), close: (code) => close.fire(code) },
    label,
  );
  const pty: vscode.Pseudoterminal = {
    onDidWrite: write.event,
    onDidClose: close.event,
    open: (dims) => void bridge.open(dims && { cols: dims.columns, rows: dims.rows }),
    handleInput: (data) => bridge.input(data),
    setDimensions: (dims) => bridge.resize({ cols: dims.columns, rows: dims.rows }),
    close: () => {
      bridge.dispose();
      write.dispose();
      close.dispose();
    },
  };
  const terminal = vscode.window.createTerminal({ name: opts.name, pty, iconPath: new vscode.ThemeIcon('remote') });
  terminal.show();
  return terminal;
}
