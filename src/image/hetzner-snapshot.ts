// The last step of a Hetzner image import: create_image of the written disk, then wait until the snapshot is
// available. The snapshot's id is reported as soon as it is known, so that the caller can delete an unfinished one.

import { UserError } from '../base/errors';
import { isLostAnswer } from '../providers/retry';
import { LABEL_RUN } from '../providers/tags';
import type { HzAction, HzSnapshot } from './hetzner-api';
import { explain, until, waitAction, type WaitContext } from './hetzner-wait';

export const LABEL_IMAGE = 'thebacknd-image';

export interface SnapshotRequest extends WaitContext {
  serverId: number;
  /** The snapshot's description and its `thebacknd-image` label. */
  name: string;
  runId: string;
  /** Until the snapshot is made; default 60 min. */
  timeoutMs?: number;
  onId: (id: number) => void;
  onPercent: (p: number) => void;
}

export async function snapshotDisk(o: SnapshotRequest): Promise<HzSnapshot> {
  const timeoutMs = o.timeoutMs ?? 60 * 60_000;
  const snap = await createSnapshot(o, { [LABEL_IMAGE]: o.name, [LABEL_RUN]: o.runId });
  const snapshotId = snap.imageId;
  o.onId(snapshotId);
  if (snap.action) await waitAction(o, snap.action, 'snapshot the disk', timeoutMs, o.onPercent);
  return until(
    `snapshot ${snapshotId} to be available`,
    async () => {
      const i = await o.api.image(snapshotId, o.signal);
      if (!i) throw new UserError(`Hetzner lost snapshot ${snapshotId} while making it.`);
      if (i.status === 'unavailable') throw new UserError(`Hetzner could not make snapshot ${snapshotId} (status unavailable).`);
      return i.status === 'available' ? i : undefined;
    },
    timeoutMs,
    o.pollIntervalMs ?? 2000,
    o.signal,
  );
}

/** create_image once; after a lost answer, the snapshot is found by the run id label. */
async function createSnapshot(o: SnapshotRequest, labels: Record<string, string>): Promise<{ imageId: number; action?: HzAction }> {
  try {
    return await o.api.createSnapshot(o.serverId, o.name, labels, o.signal);
  } catch (e) {
    if (o.signal?.aborted) throw o.signal.reason;
    if (!isLostAnswer(e)) throw explain(e);
    const found = await o.api.snapshots({ [LABEL_RUN]: labels[LABEL_RUN]! }, o.signal);
    if (!found[0]) throw explain(e);
    return { imageId: found[0].id };
  }
}
