// A modelled network link for the push benchmark: a TCP proxy in front of the S3 server with a shared uplink of
// `mbit` megabits per second (every connection queues on the same link, as a user's uploads do) and `rttMs` of
// round-trip time (half each way). Over loopback the S3 server, Nix and the client share two cores and the
// figure is about CPU; through this link it is about what a user sees: whether the push keeps their uplink busy.
import net from 'node:net';

export interface Link {
  /** The endpoint to give the S3 client instead of the server's. */
  endpoint: string;
  close(): Promise<void>;
}

/** Bytes queued in one direction of one connection before its sender is paused (backpressure). */
const QUEUE = 256 * 1024;

export async function startLink(target: string, mbit: number, rttMs: number): Promise<Link> {
  const t = new URL(target);
  const bytesPerMs = (mbit * 1e6) / 8 / 1000;
  const oneWay = rttMs / 2;
  let uplinkFreeAt = 0; // when the shared uplink will have sent everything queued on it so far
  const sockets = new Set<net.Socket>();

  /**
   * Forwards `from` to `to` in order, each chunk released at `releaseAt(its size)` (non-decreasing), through one
   * FIFO and one timer (two timers due the same millisecond may fire in either order), pausing `from` while too much waits.
   */
  const forward = (from: net.Socket, to: net.Socket, releaseAt: (bytes: number) => number) => {
    const queue: { chunk: Buffer | null; at: number }[] = [];
    let queued = 0;
    let timer: NodeJS.Timeout | undefined;
    const pump = () => {
      timer = undefined;
      while (queue.length && queue[0]!.at <= performance.now()) {
        const { chunk } = queue.shift()!;
        if (chunk === null) to.end();
        else {
          queued -= chunk.length;
          if (!to.destroyed) to.write(chunk);
        }
      }
      if (queued <= QUEUE && from.isPaused()) from.resume();
      if (queue.length) timer = setTimeout(pump, Math.max(0, queue[0]!.at - performance.now()));
    };
    const push = (chunk: Buffer | null) => {
      queue.push({ chunk, at: releaseAt(chunk?.length ?? 0) });
      timer ??= setTimeout(pump, Math.max(0, queue[0]!.at - performance.now()));
    };
    from.on('data', (chunk: Buffer) => {
      queued += chunk.length;
      if (queued > QUEUE) from.pause();
      push(chunk);
    });
    from.on('end', () => push(null));
  };

  const server = net.createServer((client) => {
    const upstream = net.connect(Number(t.port), t.hostname);
    // An end travels through the queue like data (the other side ends once everything before it is delivered);
    // an error ends both at once.
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      s.on('close', () => sockets.delete(s));
    }
    forward(client, upstream, (bytes) => {
      uplinkFreeAt = Math.max(performance.now(), uplinkFreeAt) + bytes / bytesPerMs;
      return uplinkFreeAt + oneWay;
    });
    forward(upstream, client, () => performance.now() + oneWay);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
