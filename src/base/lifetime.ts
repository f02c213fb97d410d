// The extension's lifetime as a cancel: when VS Code shuts the extension down (window closed, reload, uninstall),
// every run and worker build still going is cancelled the way its Cancel button does it (its machines destroyed),
// and deactivate waits for those cleanups. vscode-free so a plain test drives it.

export class Lifetime {
  private readonly ctl = new AbortController();
  private readonly running = new Set<Promise<unknown>>();

  get signal(): AbortSignal {
    return this.ctl.signal;
  }

  /** Runs `fn` with `outer` and the lifetime as its cancel; shutdown() waits for it to settle. */
  run<T>(outer: AbortSignal, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const p = fn(AbortSignal.any([outer, this.ctl.signal]));
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    this.running.add(settled);
    void settled.then(() => this.running.delete(settled));
    return p;
  }

  /** Cancels everything running and resolves when each has cleaned up. */
  async shutdown(): Promise<void> {
    this.ctl.abort();
    await Promise.all([...this.running]);
  }
}
