/**
 * The architecture flags of issue #14 from the CLI, in-process on tiny data: --early-exit
 * trains exits and `classify --exit-threshold` reports the layers run (threshold > 1 runs
 * every layer and equals the plain prediction; a model without exits is refused with the
 * reason); --chunk-len trains the hierarchical classifier; --mem-len trains Transformer-XL;
 * each flag is refused for the tasks it does not apply to.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { classifyTsv, cli, lmText, tmp } from './in-process.js';

const train = (task: string, data: string, out: string, ...extra: string[]) => [
  'train',
  '--task',
  task,
  '--data',
  data,
  '--out',
  out,
  '--steps',
  '3',
  ...extra,
];

test('--early-exit and classify --exit-threshold / --patience', async () => {
  const dir = tmp();
  const data = classifyTsv(dir);
  const out = join(dir, 'ee');
  const r = await cli(train('classify', data, out, '--early-exit'));
  assert.equal(r.code, 0, r.err);
  assert.equal(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).config.earlyExit, true);
  const layers = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).config.numLayers;
  const plain = await cli(['classify', '--model', out, 'a text', 'another one']);
  const never = await cli([
    'classify',
    '--model',
    out,
    '--exit-threshold',
    '2',
    'a text',
    'another one',
  ]);
  assert.equal(never.code, 0, never.err);
  const rows = never.out.trim().split('\n');
  assert.equal(rows.length, 2);
  rows.forEach((row, i) => {
    assert.match(row, new RegExp(`\\tlayers ${layers}$`));
    assert.equal(row.split('\t')[0], plain.out.trim().split('\n')[i].split('\t')[0]);
  });
  assert.match(never.err, new RegExp(`mean layers run: ${layers}\\.00 of ${layers}`));
  const first = await cli(['classify', '--model', out, '--exit-threshold', '0', 'a text']);
  assert.match(first.out, /\tlayers 1$/m);
  const flat = join(dir, 'flat');
  assert.equal((await cli(train('classify', data, flat))).code, 0);
  const refused = await cli(['classify', '--model', flat, '--exit-threshold', '0.9', 'x']);
  assert.match(refused.err, /no exit classifiers/);
  const wrong = await cli(train('lm', lmText(dir), join(dir, 'w'), '--early-exit'));
  assert.match(wrong.err, /--early-exit does not apply to --task lm/);
});

test('--chunk-len trains the hierarchical classifier; --mem-len trains Transformer-XL', async () => {
  const dir = tmp();
  const h = join(dir, 'h');
  const r1 = await cli(train('classify', classifyTsv(dir), h, '--chunk-len', '8'));
  assert.equal(r1.code, 0, r1.err);
  assert.equal(
    JSON.parse(readFileSync(join(h, 'config.json'), 'utf8')).model,
    'HierarchicalClassifier',
  );
  assert.equal((await cli(['classify', '--model', h, 'some text'])).code, 0);
  const x = join(dir, 'xl');
  const r2 = await cli(train('lm', lmText(dir), x, '--mem-len', '16'));
  assert.equal(r2.code, 0, r2.err);
  const cfg = JSON.parse(readFileSync(join(x, 'config.json'), 'utf8'));
  assert.equal(cfg.model, 'TransformerXL');
  assert.equal(cfg.config.memLen, 16);
  const g = await cli(['generate', '--model', x, '--prompt', 'to be', '--max-tokens', '5']);
  assert.equal(g.code, 0, g.err);
  const wrong = await cli(train('classify', classifyTsv(dir), join(dir, 'w'), '--mem-len', '4'));
  assert.match(wrong.err, /--mem-len does not apply to --task classify/);
});
