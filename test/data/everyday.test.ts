/**
 * The ten everyday sentences the README translates (data/translation/everyday-de.txt, chosen
 * before any run, issue #19) are not in the built-in German-English data: neither as a
 * source nor inside one, so the README shows translations of unseen sentences.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FREEDICT_DE_EN_PATH, FREEDICT_EN_DE_PATH, resolveDataset } from '../../src/data/index.js';

const file = fileURLToPath(new URL('../../data/translation/everyday-de.txt', import.meta.url));

test('the README\'s ten everyday sentences are not in freedict-de-en', (t) => {
  const sentences = readFileSync(file, 'utf8').trim().split('\n');
  assert.equal(sentences.length, 10);
  const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
  for (const s of sentences) assert.ok(readme.includes(s), `README lists "${s}"`);
  if (!existsSync(FREEDICT_DE_EN_PATH) || !existsSync(FREEDICT_EN_DE_PATH))
    return t.skip('apt-get install dict-freedict-deu-eng dict-freedict-eng-deu');
  const key = (x: string) => x.toLowerCase().replace(/[.?!,]/g, '').trim();
  const sources = resolveDataset('freedict-de-en', 'translate').map((p) => key(p.source));
  for (const s of sentences) {
    const k = key(s);
    assert.ok(!sources.some((src) => src.includes(k)), `"${s}" occurs in the data`);
  }
});
