// Trust boundaries inside the real VS Code (issue #14): a repository's .vscode/settings.json cannot point a cloud
// API or the cache somewhere else and receive the token. The workspace names a local listener as every endpoint;
// the listener must receive no request at all, while a harmless setting from the same file does apply.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { waitFor } from '../fixtures/wait';

suite('trust boundaries', () => {
  test('a workspace settings file naming an endpoint: that endpoint gets no request, the token stays home', async () => {
    const hits: string[] = [];
    const server = http.createServer((req, res) => {
      hits.push(`${req.method} ${req.url}`);
      res.writeHead(500).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    assert.ok(folder, 'the runner opens a folder');
    const dir = path.join(folder, '.vscode');
    const file = path.join(dir, 'settings.json');
    const had = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
    const config = () => vscode.workspace.getConfiguration('thebacknd');
    const marker = (config().get<number>('maxAgeMinutes') ?? 60) + 7;
    try {
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(
        file,
        JSON.stringify({
          'thebacknd.digitalocean.endpoint': `${url}/v2`,
          'thebacknd.hetzner.endpoint': `${url}/v1`,
          'thebacknd.cache.endpoint': url,
          'thebacknd.cache.publicUrl': `${url}/cache`,
          'thebacknd.cache.private': true,
          'thebacknd.maxAgeMinutes': marker,
        }),
      );
      // The file is read (the harmless setting applies) ...
      await waitFor('the workspace settings file to be read', () => config().get<number>('maxAgeMinutes') === marker);
      // ... but none of the routing settings comes from it.
      for (const k of ['digitalocean.endpoint', 'hetzner.endpoint', 'cache.endpoint', 'cache.publicUrl'])
        assert.notEqual(config().get<string>(k), k.includes('cache') ? (k.endsWith('publicUrl') ? `${url}/cache` : url) : `${url}/${k.startsWith('digital') ? 'v2' : 'v1'}`, k);
      assert.equal(config().get<boolean>('cache.private'), false);
      await vscode.commands.executeCommand('thebacknd.refresh');
      assert.deepEqual(hits, [], 'the listener named by the workspace received nothing');
    } finally {
      if (had === undefined) fs.rmSync(file, { force: true });
      else fs.writeFileSync(file, had);
      await waitFor('the workspace setting to be gone', () => config().get<number>('maxAgeMinutes') !== marker);
      server.close();
    }
  });
});
