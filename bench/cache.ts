// Cache push figures over repeats of benchPush() (bench/push.ts), for a closure of a few large paths and one of
// many small paths: a cold push against raw PutObject of the same files (the floor), a warm re-push (its time,
// what it sends, how it looked the closure up), and both against `nix copy --to file://` + `aws s3 sync`. For the few
// large paths, the cold push and the raw PUTs again through a modelled uplink (BENCH_LINK="<Mbit/s>,<RTT ms>",
// default 200 Mbit/s and 20 ms), where the bytes, not the shared CPU, set the pace.
import { benchPush, type LinkModel, type PushClosure } from './push';
import { figure, ratio, type Figure } from './figures';

const [mbit, rttMs] = (process.env.BENCH_LINK ?? '200,20').split(',').map(Number);
const LINK: LinkModel = { mbit: mbit! > 0 ? mbit! : 200, rttMs: rttMs! >= 0 ? rttMs! : 20 };

const CLOSURES: { fixture: PushClosure; label: string; link?: LinkModel }[] = [
  { fixture: 'bench', label: 'few large paths', link: LINK },
  { fixture: 'bench-small', label: 'many small paths' },
];

export async function benchCache(repeats: number): Promise<Figure[]> {
  const out: Figure[] = [];
  for (const { fixture, label, link } of CLOSURES) {
    const runs: Record<string, number>[] = [];
    for (let i = 0; i < repeats; i++) runs.push(await benchPush(fixture, link));
    const col = (k: string) => runs.map((r) => r[k]!);
    const first = runs[0]!;
    const group = `cache push (${label})`;
    const what = `${first.closurePaths} paths, ${first.narMiB!.toFixed(1)} MiB of NARs, ${first.uploadedMiB!.toFixed(1)} MiB sent`;
    const raw = figure(group, 'raw PutObject of the same files (floor)', 's', col('rawPutSeconds'));
    const cold = ratio(figure(group, 'cold push: closure, lookups, sign, compress, upload', 's', col('coldPushSeconds'), what), raw, 'raw PUTs');
    const throughput = figure(
      group,
      'cold push throughput, share of raw PUT throughput, loopback (goal: 80 % or more)',
      '%',
      runs.map((r) => Math.round((100 * r.rawPutSeconds!) / r.coldPushSeconds!)),
    );
    // The same share from the first staged NAR on: what remains once the fixed start (closure, bucket check, Nix's
    // start and its first NAR) is paid, so a reader can see which part of the gap is start-up and which is throughput.
    const sustained = figure(
      group,
      'cold push throughput from its first staged NAR on (start-up excluded; not the goal figure), share of raw PUT throughput',
      '%',
      runs.map((r) => Math.round((100 * r.rawPutSeconds!) / (r.coldPushSeconds! - r.coldFirstStagedSeconds!))),
    );
    // On loopback Nix, the client and the S3 server share the cores: the push's CPU time over the cores is a floor.
    const rawCpu = figure(group, 'raw PUTs: CPU time (this process + S3 server)', 's', col('rawCpuSeconds'));
    const coldCpu = ratio(figure(group, 'cold push: CPU time (this process + Nix + S3 server)', 's', col('coldCpuSeconds')), rawCpu, 'raw PUTs');
    const best = figure(
      group,
      `highest share the CPU allows: raw PUT time ÷ (cold push CPU ÷ ${first.cores} cores)`,
      '%',
      runs.map((r) => Math.round(100 * r.coldBestShare!)),
    );
    const linked: Figure[] = [];
    if (link) {
      const name = `${link.mbit} Mbit/s uplink, ${link.rttMs} ms RTT (modelled)`;
      const rawLink = figure(group, `raw PutObject of the same files, ${name}`, 's', col('linkRawPutSeconds'));
      const coldLink = ratio(figure(group, `cold push, ${name}`, 's', col('linkColdPushSeconds')), rawLink, 'raw PUTs');
      const share = figure(
        group,
        `cold push throughput over that link, share of raw PUT throughput (goal: 80 % or more)`,
        '%',
        runs.map((r) => Math.round((100 * r.linkRawPutSeconds!) / r.linkColdPushSeconds!)),
      );
      linked.push(coldLink, rawLink, share);
    }
    // The cold push's critical path: closure and lookups until Nix stages the first NAR, staging while uploading, the tail.
    const firstStaged = ratio(figure(group, 'cold push: start → first NAR staged (closure, lookups, Nix start)', 's', col('coldFirstStagedSeconds')), cold, 'cold push');
    const lastStaged = ratio(figure(group, 'cold push: start → last NAR staged (Nix compresses and signs, uploads run)', 's', col('coldLastStagedSeconds')), cold, 'cold push');
    const tail = ratio(figure(group, 'cold push: last NAR staged → done (upload tail, narinfos)', 's', col('coldTailSeconds')), cold, 'cold push');
    const cliCold = ratio(figure(group, 'nix copy --to file:// + aws s3 sync, cold', 's', col('cliColdSeconds')), cold, 'cold push');
    const warm = ratio(
      figure(group, 'warm re-push (all present) (goal: 1 s or less)', 's', col('warmPushSeconds'), `${first.warmPushRequests} requests, ${first.warmPushListings} listing pages`),
      cold,
      'cold push',
    );
    const cliWarm = ratio(figure(group, 'nix copy --to file:// + aws s3 sync, warm', 's', col('cliWarmSeconds')), warm, 'warm re-push');
    const warmBytes = figure(group, 'bytes sent by the warm re-push', 'bytes', col('warmPushBytes'), `${first.warmPushWrites} writes`);
    out.push(cold, raw, throughput, sustained, coldCpu, rawCpu, best, ...linked, firstStaged, lastStaged, tail, cliCold, warm, cliWarm, warmBytes);
  }
  return out;
}
