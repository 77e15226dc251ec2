// Debian's chromium, headless, driven by playwright-core: for pages people read (the status page).
import { chromium, type Browser } from 'playwright-core';
import { requireTool } from './peers.js';

export function launchChromium(): Promise<Browser> {
  requireTool('chromium', 'chromium');
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
