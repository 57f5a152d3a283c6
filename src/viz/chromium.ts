/**
 * A real headless Chromium for `precopy report --png` and the browser tests: @sparticuz/chromium's build, driven by
 * playwright-core. The browser unpacks into the temp dir once (/tmp/chromium and its libraries);
 * a binary left there by another @sparticuz/chromium version does not start with ours, so a
 * failed launch clears that unpacked binary and unpacks this version's afresh, once.
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium as playwright, type Browser } from 'playwright-core';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const chromium = require('@sparticuz/chromium') as { executablePath(): Promise<string>; args: string[] };

async function launch(): Promise<Browser> {
  return playwright.launch({
    executablePath: await chromium.executablePath(),
    args: chromium.args,
    headless: true,
  });
}

export async function launchChromium(): Promise<Browser> {
  try {
    return await launch();
  } catch (first) {
    rmSync(join(tmpdir(), 'chromium'), { force: true });
    try {
      return await launch();
    } catch (second) {
      throw new Error(
        `chromium did not start (${(first as Error).message}); after re-unpacking: ${(second as Error).message}`,
      );
    }
  }
}

/** Renders an SVG document (a report) to a PNG file at its own size. */
export async function svgToPng(svg: string, path: string): Promise<void> {
  const size = /<svg[^>]*\bwidth="(\d+)"[^>]*\bheight="(\d+)"/.exec(svg);
  if (!size) throw new Error('svgToPng: the SVG has no width and height');
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.setViewportSize({ width: Number(size[1]), height: Number(size[2]) });
    // Block, not inline: an inline SVG leaves a text baseline gap under it.
    await page.setContent(`<!doctype html><style>body{margin:0}svg{display:block}</style>${svg}`);
    await page.screenshot({ path, fullPage: true, type: 'png' });
  } finally {
    await browser.close();
  }
}
