// Opens each page given as an argument in headless Chromium and prints
// "RESULT <url> <title>" once the page's title settles (see wamp_page.html).
// playwright-core is loaded from TELEMESH_NODE_MODULES.
import { createRequire } from 'node:module';

const require = createRequire(process.env.TELEMESH_NODE_MODULES + '/');
const { chromium } = require('playwright-core');

const browser = await chromium.launch({
  executablePath: process.env.TELEMESH_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  for (const url of process.argv.slice(2)) {
    const page = await browser.newPage();
    await page.goto(url);
    await page.waitForFunction(() => document.title !== 'pending', null, { timeout: 15000 });
    console.log('RESULT ' + url + ' ' + await page.title());
    await page.close();
  }
} finally {
  await browser.close();
}
