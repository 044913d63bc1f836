import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { launchChromium } from '../support/browser';

/**
 * The console's screenshots in docs/operators/ and the Overview's page weight, taken from a
 * running deployment (`npm start` prints the two variables):
 *   HSMP_ADMIN_URL=http://127.0.0.1:9090 HSMP_ADMIN_TOKEN=… npm run docs:console
 * Signs in with the token, visits the main pages at 1280 px wide, starts a reconciliation
 * preview (which changes nothing) for its page, and prints the bytes the Overview transfers
 * with the browser's cache off (every resource counted).
 */
const OUT = path.resolve(__dirname, '..', '..', '..', 'docs', 'operators');

async function main(): Promise<void> {
  const base = process.env.HSMP_ADMIN_URL;
  const token = process.env.HSMP_ADMIN_TOKEN;
  if (!base || !token) throw new Error('set HSMP_ADMIN_URL and HSMP_ADMIN_TOKEN (npm start prints them)');
  const sample = process.argv[2] ?? '1900110036';
  mkdirSync(OUT, { recursive: true });
  const browser = await launchChromium();
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    await page.goto(`${base}/console/sign-in`);
    await page.getByLabel('Operator token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${base}/console/`);

    console.log(`Overview: ${await overviewWeight(page, `${base}/console/`)} bytes transferred (cache off, every resource)`);
    const shoot = async (name: string, url: string) => {
      await page.goto(url);
      await page.screenshot({ path: path.join(OUT, `console-${name}.png`), fullPage: true });
      console.log(`docs/operators/console-${name}.png`);
    };
    await shoot('overview', `${base}/console/`);
    await shoot('blocks', `${base}/console/blocks`);
    await shoot('enterprise', `${base}/console/enterprise?number=${sample}`);
    await shoot('logs', `${base}/console/logs`);
    await shoot('data', `${base}/console/data`);

    const preview = page.getByRole('form', { name: 'Preview a reconciliation' });
    await page.goto(`${base}/console/data`);
    await preview.getByLabel('Reason (for the audit log)').fill('screenshot of the preview');
    await preview.getByRole('button').click();
    await page.waitForURL(/\/console\/data\/jobs\/\d+$/);
    await page
      .locator('dl.facts strong')
      .filter({ hasText: /^(succeeded|failed)$/ })
      .waitFor({ timeout: 120_000 });
    await page.screenshot({ path: path.join(OUT, 'console-preview.png'), fullPage: true });
    console.log('docs/operators/console-preview.png');
  } finally {
    await browser.close();
  }
}

/** The bytes on the wire (headers and bodies, as encoded) of every response loading the page needs. */
async function overviewWeight(page: Page, url: string): Promise<number> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  let bytes = 0;
  cdp.on('Network.loadingFinished', (event: { encodedDataLength: number }) => {
    bytes += event.encodedDataLength;
  });
  await page.goto(url, { waitUntil: 'networkidle' });
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: false });
  await cdp.detach();
  return bytes;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
