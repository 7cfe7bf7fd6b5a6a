/**
 * The inspector page in a real browser (Debian's chromium, driven by playwright-core): a 3-server
 * `zab ensemble`, its page shows every server with the leader's `peer.leading` state highlighted
 * (from live XState inspection events); kill -9 the leader, and the page shows it down and another
 * server highlighted as leader in a higher epoch. Skipped only outside CI when no chromium is
 * installed (`apt-get install chromium`); in CI a missing browser fails the test.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, freeBasePort, startEnsemble, ZabProc } from '../server/helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveBrowser = fs.existsSync(CHROMIUM);
if (!haveBrowser && process.env.CI) throw new Error(`no browser at ${CHROMIUM}: .ci/run installs Debian's chromium (apt-get install -y chromium), or set CHROMIUM_PATH`);

let tmp = '';
let ens: ZabProc | null = null;
let browser: Browser | null = null;

beforeAll(() => {
  ensureBuilt();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'zab-inspector-'));
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await ens?.terminate();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** The id of the server the page shows as leader: role leading, up, and its peer diagram's `leading` state highlighted. */
/** The epoch a server's panel shows (from its `status` events, which come twice a second). */
async function epochOnPage(page: Page, id: number): Promise<number> {
  return Number(await page.locator(`section.srv[data-server="${id}"] dl.facts dt:text-is("epoch") + dd`).textContent());
}

async function leaderOnPage(page: Page, not?: number): Promise<{ id: number; epoch: number }> {
  const sel = `section.srv[data-up="true"][data-role="leading"]${not ? `:not([data-server="${not}"])` : ''}:has(.chart-peer g[data-state="peer.leading"].active.leaf)`;
  const panel = page.locator(sel);
  await panel.waitFor({ timeout: 30_000 });
  const id = Number(await panel.getAttribute('data-server'));
  // Its role diagram is the leader machine, in broadcast.
  await page.locator(`section.srv[data-server="${id}"] .chart-role g[data-state="leader.broadcast"].active`).waitFor({ timeout: 10_000 });
  const epochText = await panel.locator('dl.facts dt:text-is("epoch") + dd').textContent();
  return { id, epoch: Number(epochText) };
}

describe.skipIf(!haveBrowser)('inspector page in a browser', () => {
  it('shows the leader highlighted, then a new leader after kill -9 of the old one', async () => {
    const base = await freeBasePort(3);
    ens = startEnsemble(path.join(tmp, 'data'), base, 3, ['--keep-going']);
    await ens.waitForOutput(/ensemble ready/, 60_000);
    const url = (await ens.waitForOutput(/inspector: (http:\/\/\S+)/)).split(' ')[1]!;
    expect(url).toBe(`http://127.0.0.1:${base + 299}/`);

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--no-first-run', '--disable-extensions'],
    });
    const page = await browser.newPage({ viewport: { width: 1500, height: 1200 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(url);

    await expect.poll(() => page.locator('section.srv').count()).toBe(3);
    const first = await leaderOnPage(page);
    // Followers show the follower machine with its broadcast state active.
    for (const id of [1, 2, 3].filter((i) => i !== first.id)) {
      await page.locator(`section.srv[data-server="${id}"][data-role="following"] .chart-peer g[data-state="peer.following"].active`).waitFor();
      await page.locator(`section.srv[data-server="${id}"] .chart-role g[data-state="follower.session.broadcast"].active.leaf`).waitFor();
    }
    await expect.poll(() => page.locator('#summary').textContent()).toContain(`leader: server ${first.id}`);
    await page.screenshot({ path: path.join(tmp, 'before.png') });

    const pid = Number(/server (\d+): client \S+\s+pid (\d+)/g.exec(ens.stdout.split('\n').find((l) => l.startsWith(`server ${first.id}: client`))!)![2]);
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGKILL');

    await page.locator(`section.srv[data-server="${first.id}"][data-up="false"][data-role="down"]`).waitFor({ timeout: 15_000 });
    const second = await leaderOnPage(page, first.id);
    expect(second.id).not.toBe(first.id);
    // The diagrams follow transitions at once; the facts follow status events, up to 500 ms later.
    await expect.poll(() => epochOnPage(page, second.id), { timeout: 10_000 }).toBeGreaterThan(first.epoch);
    // The new leader's log shows its own transition into leading.
    await expect
      .poll(() => page.locator(`section.srv[data-server="${second.id}"] .log li.transition`).allTextContents())
      .toEqual(expect.arrayContaining([expect.stringMatching(/peer-\d+ +xstate\.done\.actor\.role +→ +leading/)]));
    await expect.poll(() => page.locator('#summary').textContent()).toContain(`2 of 3 servers up · leader: server ${second.id}`);
    expect(pageErrors).toEqual([]);
  });
});
