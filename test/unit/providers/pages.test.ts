// Hetzner lists 50 servers a page: once the first page gives the page count, the rest are fetched at once. A proxy
// in front of the emulator holds the answer to page 2 until page 3 has been asked for: a client that waits for
// each page before asking the next never gets page 2 and the test fails at its timeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createProvider } from '../../../src/providers';
import { emulator, seed, TOKEN } from './emu';

test('hetzner: after the first page, the remaining pages are fetched concurrently, and every server is listed', { timeout: 30_000 }, async (t) => {
  const emu = await emulator(t, { limits: { droplets: 50, servers: 50 } });
  for (let i = 1; i <= 8; i++) seed(emu, 'hetzner', { name: `thebacknd-${i}`, tagged: true });
  const target = new URL(emu.hetznerUrl);
  let page3Asked!: () => void;
  const page3 = new Promise<void>((r) => (page3Asked = r));
  const asked: number[] = [];
  const proxy = http.createServer((req, res) => {
    const page = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('page') ?? 0);
    if (req.url?.includes('/servers')) asked.push(page);
    if (page === 3) page3Asked();
    const forward = () => {
      const up = http.request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      req.pipe(up);
    };
    if (page === 2) void page3.then(forward);
    else forward();
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => proxy.close(() => r())));
  const endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}${target.pathname}`;
  const p = createProvider('hetzner', { token: TOKEN, endpoint, pageSize: 3 });
  const { machines } = await p.list();
  assert.deepEqual(
    machines.map((m) => m.name).sort(),
    [1, 2, 3, 4, 5, 6, 7, 8].map((i) => `thebacknd-${i}`),
  );
  assert.deepEqual(asked.slice(0, 1), [1], 'the first page first: it gives the count');
  assert.deepEqual([...asked].sort(), [1, 2, 3]);
});
