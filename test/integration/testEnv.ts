// Inside the extension host: what the runner prepared for this run (see test/runners/suiteEnv.ts), read from
// <first workspace folder>/.thebacknd-test.json. Tests get fixture outputs (emulator URLs…) from `fixtures`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { testEnvFileName, type TestEnvFile } from '../runners/suiteEnv';

export function readTestEnv(): TestEnvFile {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) {
    throw new Error('The integration suite needs the workspace folder the runner opened; none is open.');
  }
  const file = path.join(folder.uri.fsPath, testEnvFileName);
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: start the suite with npm run test:integration.`);
  return JSON.parse(fs.readFileSync(file, 'utf8')) as TestEnvFile;
}
