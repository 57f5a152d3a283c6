/** The browser tests drive the same headless Chromium as `precopy report --png`; screenshots go to test-output/. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../../src/viz/chromium';
import type { Dashboard } from '../../src/viz/dashboard-server';

export { launchChromium };
export const OUTPUT_DIR = join(__dirname, '..', '..', 'test-output');

export interface BrowserSuite {
  /** The one context every page of the suite shares. */
  context(): BrowserContext;
  /** Keeps a started dashboard to close after the suite. */
  track(dashboard: Dashboard): Dashboard;
  /** A page of `size` that records console errors and uncaught exceptions into `errors`. */
  openPage(errors: string[], size?: { width: number; height: number }): Promise<Page>;
}

/**
 * One browser for a describe block: launched before its tests, closed after them with every
 * dashboard they tracked. This build runs single-process: closing its last page ends the
 * browser, so one stays open; and cookies only stick within one context, so every page shares it.
 */
export function browserSuite(): BrowserSuite {
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  const dashboards: Dashboard[] = [];
  beforeAll(async () => {
    mkdirSync(OUTPUT_DIR, { recursive: true });
    browser = await launchChromium();
    context = await browser.newContext();
    await context.newPage();
  });
  afterAll(async () => {
    await Promise.all(dashboards.map((d) => d.close()));
    await browser?.close();
  });
  return {
    context: () => context!,
    track(dashboard) {
      dashboards.push(dashboard);
      return dashboard;
    },
    async openPage(errors, size = { width: 1600, height: 1250 }) {
      const page = await context!.newPage();
      await page.setViewportSize(size);
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(String(e)));
      return page;
    },
  };
}
