// `transformer info --data`: the counts are the loader's and the split's (checked against
// loadTaskData on a file holding the same pairs), full sentences are counted as the sentence
// filter counts them, and the cache is keyed by the files read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  BUILTIN_DATASETS,
  datasetInfo,
  describeDatasets,
  loadFreedictDeEn,
  type ParallelPair,
} from '../../src/data/index.js';
import { loadTaskData } from '../../src/tasks/data.js';

const excerpt = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  'fixtures',
  'data',
  'freedict-deu-eng.excerpt.dict',
);
const tmp = (): string => mkdtempSync(join(tmpdir(), 'tts-info-'));
type Entry = (typeof BUILTIN_DATASETS)[string];

/** The FreeDict excerpt's pairs plus synthetic ones that share sentences (split groups). */
function fixturePairs(): ParallelPair[] {
  const pairs = loadFreedictDeEn(excerpt);
  for (let i = 0; i < 120; i++)
    pairs.push({ source: `Satz ${i % 90}.`, target: i % 3 === 0 ? 'Same.' : `sentence ${i}` });
  return pairs;
}

function fixtureEntry(load: () => ParallelPair[], files: string[]): Entry {
  return { task: 'translate', about: 'fixture', source: 'test', licence: 'none', load, files: () => files };
}

test('info counts equal the split sizes loadTaskData gives the same pairs', () => {
  const dir = tmp();
  const pairs = fixturePairs();
  const tsv = join(dir, 'pairs.tsv');
  writeFileSync(tsv, pairs.map((p) => `${p.source}\t${p.target}`).join('\n') + '\n');
  const split = loadTaskData('translate', tsv);
  const info = datasetInfo('fx', { registry: { fx: fixtureEntry(() => pairs, [tsv]) }, cacheFile: null });
  const c = info.counts!;
  assert.deepEqual(
    [c.total, c.train, c.valid, c.test],
    [pairs.length, split.train.length, split.valid.length, split.test.length],
  );
  // Whole groups move: the 40 pairs with the target 'Same.' land in one part.
  const same = (part: ParallelPair[]) => part.filter((p) => p.target === 'Same.').length;
  assert.deepEqual(
    [split.train, split.valid, split.test].map(same).filter((n) => n > 0),
    [40],
  );
  // Full sentences: as the parser's own sentence filter counts them, plus the synthetic
  // 'Satz N.' -> 'Same.' pairs (the others' targets are not sentences).
  const parserSentences = loadFreedictDeEn(excerpt, { sentencesOnly: true }).length;
  assert.equal(c.sentences, parserSentences + 40);
  assert.equal(c.unit, 'pairs');
});

test('info counts are cached by file size and time; a changed file is counted again', () => {
  const dir = tmp();
  const file = join(dir, 'data.txt');
  writeFileSync(file, 'one');
  const cacheFile = join(dir, 'cache', 'info.json');
  const pairs = fixturePairs();
  let loads = 0;
  const registry = { fx: fixtureEntry(() => (loads++, pairs), [file]) };
  const first = datasetInfo('fx', { registry, cacheFile });
  const second = datasetInfo('fx', { registry, cacheFile });
  assert.equal(loads, 1);
  assert.deepEqual(second, first);
  writeFileSync(file, 'one more'); // another size
  const shorter = { fx: fixtureEntry(() => (loads++, pairs.slice(0, 50)), [file]) };
  assert.equal(datasetInfo('fx', { registry: shorter, cacheFile }).counts!.total, 50);
  assert.equal(loads, 2);
});

test('info: lm text by characters, a failing loader reported, an unknown name refused', () => {
  const text = 'x'.repeat(1001);
  const lm: Entry = { task: 'lm', about: 't', source: 's', licence: 'l', load: () => text, files: () => [] };
  const broken: Entry = {
    ...fixtureEntry(() => {
      throw new Error('/usr/share/dictd/x.dict.dz: no such file (install it with `apt-get install x`)');
    }, []),
  };
  const registry = { lm, broken };
  const c = datasetInfo('lm', { registry, cacheFile: null }).counts!;
  assert.deepEqual([c.unit, c.total, c.train, c.valid], ['characters', 1001, 900, 101]);
  const lines = describeDatasets({ registry, cacheFile: null });
  assert.equal(lines[0], 'lm  lm  1,001 characters: train 900 / valid = test 101');
  assert.match(lines[4], /^broken {2}translate {2}not available: .*apt-get install x/);
  assert.throws(() => datasetInfo('nope', { registry, cacheFile: null }), /unknown data set 'nope'.*lm, broken/);
});
