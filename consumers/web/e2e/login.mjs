// Login end-to-end test, run by login_test.go against a router that admits
// only WAMP-CRA users. Prints one line per passed check; throws on failure.
import { chromium } from 'playwright-core';
import path from 'node:path';

const URL_ = process.env.TELEMESH_URL;
const ART = process.env.TELEMESH_ARTIFACTS_DIR;
const check = (cond, what) => { if (!cond) throw new Error('check failed: ' + what); };
const pass = (what) => console.log('pass: ' + what);

const browser = await chromium.launchPersistentContext(process.env.TELEMESH_PROFILE_DIR, {
  executablePath: process.env.TELEMESH_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 390, height: 844 },
});
try {
  const page = browser.pages()[0] || await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(URL_ + '#node=sim');
  await page.waitForSelector('#login:not([hidden])', { timeout: 15000 });
  await page.waitForSelector('#conn[data-state="login"]');
  await page.screenshot({ path: path.join(ART, 'login.png') });
  pass('login form shown: ' + await page.textContent('#login-msg'));

  const login = async (secret, user = process.env.TELEMESH_USER, method = 'wampcra') => {
    await page.fill('#authid', user);
    await page.fill('#secret', secret);
    await page.selectOption('#method', method);
    await page.click('#login-form button[type=submit]');
  };
  await login('wrong');
  await page.waitForSelector('#login:not([hidden])', { timeout: 15000 });
  pass('wrong secret refused: ' + await page.textContent('#login-msg'));

  await login(process.env.TELEMESH_PASSWORD);
  await page.waitForSelector('#conn[data-state="connected"]', { timeout: 15000 });
  check(await page.isHidden('#login'), 'login form hidden once connected');
  await page.waitForSelector('#fields tr[data-field="temperature"]', { timeout: 15000 });
  pass(await page.textContent('#conn') + ', node fields shown');

  const stored = await page.evaluate(() => ({ session: sessionStorage.getItem('telemesh.auth'), local: localStorage.length }));
  check(stored.session && JSON.parse(stored.session).authid === process.env.TELEMESH_USER, 'credentials in sessionStorage');
  check(stored.local === 0, 'nothing in localStorage');
  pass('credentials kept in sessionStorage only');

  await page.reload();
  await page.waitForSelector('#conn[data-state="connected"]', { timeout: 15000 });
  pass('reload reconnects with the stored credentials');

  await page.click('#logout');
  await page.waitForSelector('#login:not([hidden])', { timeout: 15000 });
  check(await page.evaluate(() => sessionStorage.getItem('telemesh.auth')) === null, 'logout forgets credentials');
  pass('logout forgets credentials');

  await login(process.env.TELEMESH_TICKET, process.env.TELEMESH_TICKET_USER, 'ticket');
  await page.waitForSelector('#conn[data-state="connected"]', { timeout: 15000 });
  await page.waitForSelector('#fields tr[data-field="temperature"]', { timeout: 15000 });
  pass('ticket: ' + await page.textContent('#conn'));
  check(errors.length === 0, 'page errors: ' + errors.join('; '));
} finally {
  await browser.close();
}
