/**
 * `eval` scores the whole of a user's file unless --split says otherwise (issue #11 item 4);
 * the default number of steps has a floor for small data, and a run that never beats the
 * trivial baseline says so (item 8).
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { MIN_DEFAULT_STEPS, stepsFor } from '../../src/cli/train-options.js';
import { splitDeterministic } from '../../src/data/index.js';
import { SPLIT_SEED } from '../../src/tasks/data.js';
import { cli, classifyTsv, lmText, lmTrain, tinyTrain, tmp } from './in-process.js';

let dir = '';
let data = '';
let model = '';
before(async () => {
  dir = tmp();
  data = classifyTsv(dir, 200);
  model = join(dir, 'm');
  const r = await cli(tinyTrain('classify', data, model, '--steps', '2', '--batch-tokens', '64'));
  assert.equal(r.code, 0, r.err);
});

test('eval --data FILE scores every line by default; --split test|valid|train the split train made', async () => {
  const all = JSON.parse((await cli(['eval', '--model', model, '--data', data, '--json'])).out);
  assert.equal(all.examples, 200);
  assert.equal(all.split, 'all');
  const parts = splitDeterministic(
    Array.from({ length: 200 }, (_, i) => i),
    { valid: 0.05, test: 0.05, seed: SPLIT_SEED },
  );
  for (const split of ['test', 'valid', 'train'] as const) {
    const r = await cli(['eval', '--model', model, '--data', data, '--split', split, '--json']);
    assert.equal(r.code, 0, r.err);
    assert.equal(JSON.parse(r.out).examples, parts[split].length, split);
  }
  const bad = await cli(['eval', '--model', model, '--data', data, '--split', 'dev']);
  assert.match(bad.err, /--split.*'dev'.*test, valid, train, all/);
});

test('default steps: the task epochs, but at least MIN_DEFAULT_STEPS; --steps and --epochs as given', () => {
  assert.deepEqual(stepsFor({}, 6, 2).steps, MIN_DEFAULT_STEPS); // 800 examples, 6 steps
  assert.match(stepsFor({}, 6, 2).why, /default minimum of 300 steps \(2 epochs would be 12\)/);
  assert.equal(stepsFor({}, 1000, 2).steps, 2000);
  assert.equal(stepsFor({ epochs: 1 }, 6, 2).steps, 6);
  assert.equal(stepsFor({ steps: 4 }, 6, 2).steps, 4);
});

test('the train log states the step rule; a run that never beats the unigram baseline warns', async () => {
  const r = await cli(lmTrain(lmText(dir), join(dir, 'lm'), '--steps', '2', '--lr', '1e-9'));
  assert.equal(r.code, 0, r.err);
  assert.match(
    r.err,
    /warning: the best valid loss \([\d.]+\) never beat the unigram baseline loss \([\d.]+\)/,
  );
  const epoch = ['--epochs', '1', '--batch-tokens', '64'];
  const c = await cli(tinyTrain('classify', data, join(dir, 'c'), ...epoch));
  assert.equal(c.code, 0, c.err);
  assert.match(c.err, /\d+ steps per epoch, \d+ steps \(1 epochs\)/);
});

test('config.json records the training split; eval warns when the data changed since training', async () => {
  const cfg = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')) as {
    data: { name: string; trainItems: number; trainSha256: string };
  };
  const parts = splitDeterministic(
    Array.from({ length: 200 }, (_, i) => i),
    { valid: 0.05, test: 0.05, seed: SPLIT_SEED },
  );
  assert.equal(cfg.data.name, data);
  assert.equal(cfg.data.trainItems, parts.train.length);
  assert.match(cfg.data.trainSha256, /^[0-9a-f]{64}$/);
  const same = await cli(['eval', '--model', model, '--data', data, '--split', 'test', '--json']);
  assert.equal(same.code, 0, same.err);
  assert.doesNotMatch(same.err, /another version/);
  // The same file name with other contents: the split, and so the fingerprint, changes.
  const changed = join(dir, 'changed');
  mkdirSync(changed);
  const file = join(changed, 'labels.tsv');
  writeFileSync(file, readFileSync(data, 'utf8') + 'a new line\tpos\n');
  const moved = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')) as {
    data: { name: string };
  };
  moved.data.name = file;
  const m2 = join(dir, 'm2');
  cpSync(model, m2, { recursive: true });
  writeFileSync(join(m2, 'config.json'), JSON.stringify(moved));
  const r = await cli(['eval', '--model', m2, '--data', file, '--split', 'test', '--json']);
  assert.equal(r.code, 0, r.err);
  assert.match(
    r.err,
    /was trained on another version of .*labels\.tsv \(training split of 180 items/,
  );
});

test('a model trained with --valid FILE: its fingerprint says so, and eval on the same data does not warn', async () => {
  const valid = join(dir, 'valid.tsv');
  writeFileSync(valid, readFileSync(data, 'utf8').split('\n').slice(0, 10).join('\n') + '\n');
  const mv = join(dir, 'mv');
  const t = await cli(
    tinyTrain('classify', data, mv, '--steps', '2', '--batch-tokens', '64', '--valid', valid),
  );
  assert.equal(t.code, 0, t.err);
  const cfg = JSON.parse(readFileSync(join(mv, 'config.json'), 'utf8')) as {
    data: { trainItems: number; validFile?: boolean };
  };
  // No valid part: 95% of the 200 lines train (the 5% test part is the same as without).
  assert.equal(cfg.data.validFile, true);
  assert.equal(cfg.data.trainItems, 190);
  const r = await cli(['eval', '--model', mv, '--data', data, '--split', 'test', '--json']);
  assert.equal(r.code, 0, r.err);
  assert.doesNotMatch(r.err, /another version/);
});
