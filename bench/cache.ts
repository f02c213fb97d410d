// Cache push figures over repeats of benchPush() (bench/push.ts): a cold push against raw PutObject of the same
// files, and a warm re-push (what it costs and what it sends).
import { benchPush } from './push';
import { figure, ratio, type Figure } from './figures';

export async function benchCache(repeats: number): Promise<Figure[]> {
  const runs: Record<string, number>[] = [];
  for (let i = 0; i < repeats; i++) runs.push(await benchPush());
  const col = (k: string) => runs.map((r) => r[k]!);
  const first = runs[0]!;
  const what = `${first.closurePaths} paths, ${first.narMiB!.toFixed(0)} MiB of NARs, ${first.uploadedMiB!.toFixed(0)} MiB sent`;
  const raw = figure('cache push', 'raw PutObject of the same files (floor)', 's', col('rawPutSeconds'));
  const cold = ratio(figure('cache push', 'cold push: sign, closure, lookups, compress, upload', 's', col('coldPushSeconds'), what), raw, 'raw PUTs');
  const warm = ratio(figure('cache push', 'warm re-push (all present)', 's', col('warmPushSeconds')), cold, 'cold push');
  const warmBytes = figure('cache push', 'bytes sent by the warm re-push', 'bytes', col('warmPushBytes'), `${first.warmPushWrites} writes`);
  return [cold, raw, warm, warmBytes];
}
