// Debian's Chromium driven by playwright-core (Playwright cannot download its own browsers here).
import { chromium, type Browser, type Page } from 'playwright-core';
import * as fs from 'node:fs';

export const chromiumPath = process.env.THEBACKND_CHROMIUM ?? '/usr/bin/chromium';

const flags = [
  '--no-sandbox', // runs as root in CI
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

export async function launchBrowser(): Promise<Browser> {
  if (!fs.existsSync(chromiumPath)) {
    throw new Error(`Chromium not found at ${chromiumPath}. Install it with: apt-get install -y chromium`);
  }
  return chromium.launch({ executablePath: chromiumPath, headless: true, args: flags });
}

const loopback = /^(https?|wss?):\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?\//;

/**
 * A page whose requests may only reach this machine: the workbench would otherwise ask the extension gallery
 * (open-vsx.org) and others; tests send nothing off the loopback.
 */
export async function newLoopbackPage(browser: Browser): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.route(
    (url) => !loopback.test(url.href),
    (route) => route.abort('blockedbyclient'),
  );
  return context.newPage();
}
