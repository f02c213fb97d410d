// The push benchmark's S3 server (s3rver) in a process of its own, as a real bucket is on another machine: the
// server's work does not share the event loop of the push it measures, just as it does not for `aws s3 sync`.
// Run as a child: it prints its endpoint, answers `requests` with the requests it has seen, and stops on `stop`.
import { fork } from 'node:child_process';
import { startS3, type S3Server } from '../test/fixtures/s3';

export interface RemoteS3 {
  endpoint: string;
  /** The server's process, whose CPU time the push benchmark reads. */
  pid: number;
  cache: S3Server['cache'];
  credentials: S3Server['credentials'];
  /** Every request so far (method and URL), in arrival order. */
  requests(): Promise<{ method: string; url: string }[]>;
  stop(): Promise<void>;
}

type Settings = ReturnType<S3Server['cache']>;
type Reply = { endpoint: string; credentials: S3Server['credentials']; cache: Settings } | { requests: { method: string; url: string }[] };

export function startS3Process(bucket: string): Promise<RemoteS3> {
  const child = fork(__filename, [bucket], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const next = () =>
    new Promise<Reply>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`the S3 server process exited (${code})`));
      child.once('exit', onExit);
      child.once('message', (m: Reply) => {
        child.off('exit', onExit);
        resolve(m);
      });
    });
  return next().then((first) => {
    if (!('endpoint' in first)) throw new Error('the S3 server process did not start');
    const { endpoint, credentials, cache } = first;
    return {
      endpoint,
      pid: child.pid!,
      credentials,
      cache: (o = {}) => ({ ...cache, ...o }),
      requests: async () => {
        const r = next();
        child.send('requests');
        const m = await r;
        return 'requests' in m ? m.requests : [];
      },
      stop: () =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.send('stop');
        }),
    };
  });
}

if (require.main === module && process.send) {
  void startS3(process.argv[2] ?? 'cache').then((s3) => {
    process.send!({ endpoint: s3.endpoint, credentials: s3.credentials, cache: s3.cache() });
    process.on('message', (m) => {
      if (m === 'requests') process.send!({ requests: s3.requests.map((q) => ({ method: q.method, url: q.url })) });
      if (m === 'stop') void s3.stop().then(() => process.exit(0));
    });
    process.on('disconnect', () => void s3.stop().then(() => process.exit(0)));
  });
}
