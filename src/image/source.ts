// What an import reads: a local image file, or a stream from elsewhere (the build worker's disk) with its size known.

import fs from 'node:fs';
import type { Readable } from 'node:stream';

export interface ImageSource {
  /** For messages: the file's path, or where it is read from. */
  label: string;
  /** Bytes, as sent (compressed or not). */
  size: number;
  /** zstd-compressed (decompressed on the far side) or raw. */
  compressed: boolean;
  /** A fresh stream of the whole image. */
  open(): Readable;
}

export function fileSource(file: string): ImageSource {
  return {
    label: file,
    size: fs.statSync(file).size,
    compressed: file.endsWith('.zst'),
    open: () => fs.createReadStream(file, { highWaterMark: 1024 * 1024 }),
  };
}
