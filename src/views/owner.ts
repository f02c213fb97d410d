// The one owner of the app's disposables (views/app.ts): what activation builds is disposed in reverse, each once.
// vscode-free, so a plain Node test drives it.

export interface Disposable {
  dispose(): unknown;
}

/**
 * Owns disposables and disposes them in the reverse order of `own`, each once; one that throws does not keep the
 * others alive. Owning after disposal disposes at once (a late callback cannot leak a listener).
 */
export class Owner implements Disposable {
  private readonly owned: Disposable[] = [];
  private disposed = false;

  constructor(private readonly onError: (err: unknown) => void = () => undefined) {}

  own<T extends Disposable>(d: T): T {
    if (this.disposed) this.disposeOne(d);
    else this.owned.push(d);
    return d;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    while (this.owned.length) this.disposeOne(this.owned.pop()!);
  }

  private disposeOne(d: Disposable): void {
    try {
      const r = d.dispose();
      if (r instanceof Promise) r.catch(this.onError);
    } catch (err) {
      this.onError(err);
    }
  }
}
