// The provider's clock as seen from here. Ages and deadlines are the provider's timestamps, so "now" must be the
// provider's now too: a laptop whose clock runs 10 minutes fast must not reap a machine 10 minutes early.
// Each list answer carries the server's Date; we keep the offset and apply it to the local monotonic-ish clock.

export class ServerClock {
  private offsetMs = 0;
  private observed = false;

  constructor(private readonly localNow: () => number = Date.now) {}

  /** Records the server's time at the moment an answer arrived (`receivedAt` in local milliseconds). */
  observe(serverTime: Date, receivedAt = this.localNow()): void {
    const t = serverTime.getTime();
    if (!Number.isFinite(t)) return;
    this.offsetMs = t - receivedAt;
    this.observed = true;
  }

  /** The server's current time in milliseconds since the epoch (the local clock until a first answer). */
  now(): number {
    return this.localNow() + this.offsetMs;
  }

  /** Server minus local, in milliseconds; 0 until a first answer. */
  get offset(): number {
    return this.offsetMs;
  }

  get known(): boolean {
    return this.observed;
  }
}
