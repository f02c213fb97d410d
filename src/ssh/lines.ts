// Splits a byte stream into text lines: UTF-8 safe across chunk boundaries, `\r\n` and `\n` both end a line.

import { StringDecoder } from 'node:string_decoder';

export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: Buffer | string): void {
    const text = this.partial + (typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    for (const p of parts) this.onLine(p.endsWith('\r') ? p.slice(0, -1) : p);
  }

  /** Emits a last line without its newline, if any. */
  flush(): void {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    if (rest) this.onLine(rest.endsWith('\r') ? rest.slice(0, -1) : rest);
  }

  /** Drops a partial line (the stream broke; it will be replayed whole). */
  discard(): void {
    this.partial = '';
    this.decoder.end();
  }
}
