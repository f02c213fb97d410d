// Deploy on save: changes to the flake's files are debounced into one deploy; only one deploy runs at a time; a
// change that arrives while one runs makes it stale, so it is cancelled (the machine rolls it back) and the newest
// state is deployed once it has settled. vscode-free; the clock is injectable so that tests need no waiting.

export interface Clock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const REAL: Clock = { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };

export class DeployOnSave {
  private timer: unknown;
  private running: { ctl: AbortController; done: Promise<void> } | undefined;
  private pending = false;
  private disposed = false;

  constructor(
    private readonly deploy: (signal: AbortSignal) => Promise<unknown>,
    private readonly opts: { debounceMs: number; clock?: Clock; onError?: (err: unknown) => void },
  ) {}

  private get clock(): Clock {
    return this.opts.clock ?? REAL;
  }

  /** A file of the flake changed. */
  changed(): void {
    if (this.disposed) return;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.fire();
    }, this.opts.debounceMs);
  }

  /** True while a deploy runs. */
  get busy(): boolean {
    return this.running !== undefined;
  }

  private fire(): void {
    if (this.running) {
      // Stale: cancel it; the newest state goes once it has settled.
      this.pending = true;
      this.running.ctl.abort();
      return;
    }
    this.start();
  }

  private start(): void {
    if (this.disposed) return;
    const ctl = new AbortController();
    const done = (async () => {
      try {
        await this.deploy(ctl.signal);
      } catch (err) {
        if (!ctl.signal.aborted) this.opts.onError?.(err);
      } finally {
        this.running = undefined;
        if (this.pending) {
          this.pending = false;
          this.start();
        }
      }
    })();
    this.running = { ctl, done };
  }

  /** Stops the timer and cancels a running deploy. */
  async dispose(): Promise<void> {
    this.disposed = true;
    this.pending = false;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    const r = this.running;
    r?.ctl.abort();
    await r?.done;
  }
}
