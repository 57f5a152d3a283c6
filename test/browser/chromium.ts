/** The browser tests drive the same headless Chromium as `precopy report --png`; screenshots go to test-output/. */
import { join } from 'node:path';

export { launchChromium } from '../../src/viz/chromium';
export const OUTPUT_DIR = join(__dirname, '..', '..', 'test-output');
