/**
 * The `serve` page in a real browser: Debian's headless Chromium driven by playwright-core.
 * The page loads, a typed sentence is translated (the greedy translation the library gives,
 * streamed into the page), the attention heatmaps of every layer and head are drawn (their
 * canvases hold coloured pixels), hovering a cell shows its weight; then the same in the
 * in-browser mode (the library bundled with its js backend, no /api/ call); and a screenshot
 * is written. Skipped, saying why, when /usr/bin/chromium is absent (CI installs it).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { backend, loadTranslator, setBackend } from '../../src/index.js';
import { startServer } from '../../src/serve/server.js';
import { longestGreedy, tinyModels } from './fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is absent: install Debian's chromium package to run the browser test`;

test(
  'the page translates a typed sentence and draws the attention heatmaps',
  { skip },
  async () => {
    const dirs = await tinyModels(['translate'], 40); // enough steps to emit whole words
    const server = await startServer({ models: [dirs.translate], port: 0 });
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(server.url);
      await page.waitForSelector('body[data-state="ready"]');
      const tr = loadTranslator(dirs.translate);
      const [text, want] = longestGreedy(tr, 12);
      assert.ok(want.length > 0);
      await page.fill('#text', text);
      await page.fill('#max', '12');
      await page.click('#run');
      await page.waitForSelector('body[data-state="done"], body[data-state="error"]');
      assert.equal(
        await page.getAttribute('body', 'data-state'),
        'done',
        (await page.textContent('#status')) ?? '',
      );
      assert.equal(await page.textContent('#output'), want);

      const { numEncoderLayers, numDecoderLayers, nhead } = loadTranslator(dirs.translate).model
        .config as { numEncoderLayers: number; numDecoderLayers: number; nhead: number };
      const heatmaps = page.locator('canvas.heatmap');
      assert.equal(await heatmaps.count(), (numEncoderLayers + 2 * numDecoderLayers) * nhead);
      // The first heatmap: most of its cells are coloured (viridis has no white).
      const coloured = await heatmaps.first().evaluate((c: HTMLCanvasElement) => {
        const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] < 600) n++;
        return n / (c.width * c.height);
      });
      assert.ok(coloured > 0.3, `coloured fraction ${coloured}`);
      const mask = await page.locator('#mask').evaluate((c: HTMLCanvasElement) => c.width);
      assert.ok(mask > 10, 'the mask is drawn');

      // Hover the bottom-right cell of the first map: the tip shows a weight.
      const box = (await heatmaps.first().boundingBox())!;
      await page.mouse.move(box.x + box.width - 3, box.y + box.height - 3);
      assert.match(
        (await page.textContent('#tip')) ?? '',
        /layer 1 head 1: query '.*' -> key '.*' = \d\.\d{3}/,
      );

      // In-browser mode: the same page computes with the bundled js backend and asks the server
      // for files only (GET /browser.js, /models/...), no /api/ call.
      const calls: string[] = [];
      page.on('request', (r) => calls.push(new URL(r.url()).pathname));
      await page.selectOption('#mode', 'browser');
      await page.click('#run');
      await page.waitForSelector('body[data-state="done"], body[data-state="error"]');
      assert.equal(
        await page.getAttribute('body', 'data-state'),
        'done',
        (await page.textContent('#status')) ?? '',
      );
      const was = backend().name;
      setBackend('js');
      try {
        assert.equal(
          await page.textContent('#output'),
          tr.translate([text], { beam: 1, maxLen: 12 })[0],
        );
      } finally {
        setBackend(was);
      }
      assert.equal(await heatmaps.count(), (numEncoderLayers + 2 * numDecoderLayers) * nhead);
      assert.deepEqual(
        calls.filter((c) => c.startsWith('/api/')),
        [],
      );
      assert.ok(calls.includes('/browser.js') && calls.includes('/models/tr/model.safetensors'));

      const shot = join(
        process.env.TEST_OUTPUT_DIR ?? mkdtempSync(join(tmpdir(), 'tts-page-')),
        'serve-page.png',
      );
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok(statSync(shot).size > 10_000, `screenshot ${shot}`);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      await server.close();
    }
  },
);
