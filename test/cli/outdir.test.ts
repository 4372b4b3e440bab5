/**
 * `transformer train` never mixes runs and never loses one (issue #11 items 1-3): an --out
 * holding a model is refused unless --overwrite or --resume, a new run appears only when
 * finished, --resume needs a checkpoint, a non-finite loss stops with a non-zero exit and no
 * model, Ctrl-C leaves a checkpoint that the printed command resumes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cli, lmText, lmTrain, tmp } from './in-process.js';

const lines = (path: string) => readFileSync(path, 'utf8').trim().split('\n');
const leftovers = (out: string) =>
  readdirSync(dirname(out)).filter((n) => n.startsWith(`${basename(out)}.`));

test('an --out holding a model is refused unless --overwrite; --overwrite replaces it whole', async () => {
  const dir = tmp();
  const data = lmText(dir);
  const out = join(dir, 'model');
  assert.equal((await cli(lmTrain(data, out, '--steps', '3'))).code, 0);
  assert.equal(lines(join(out, 'metrics.jsonl')).length, 3);
  const r = await cli(lmTrain(data, out, '--steps', '2'));
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    /--out: '.*model' already holds a model or run \(config\.json, model\.safetensors, checkpoint\.safetensors\); pass --overwrite/,
  );
  assert.equal(lines(join(out, 'metrics.jsonl')).length, 3, 'the old run is untouched');
  const o = await cli(lmTrain(data, out, '--steps', '2', '--overwrite'));
  assert.equal(o.code, 0, o.err);
  assert.equal(lines(join(out, 'metrics.jsonl')).length, 2, 'the new run replaced the old one');
  assert.deepEqual(leftovers(out), [], 'no temporary folder left');
  // a directory with other files is never replaced
  writeFileSync(join(out, 'notes.txt'), 'mine');
  const n = await cli(lmTrain(data, out, '--steps', '2', '--overwrite'));
  assert.match(n.err, /holds files that a training run does not write \(notes\.txt\)/);
});

test('--resume without a checkpoint is refused naming the path; metrics.jsonl is kept', async () => {
  const dir = tmp();
  const out = join(dir, 'model');
  const r = await cli(lmTrain(lmText(dir), out, '--steps', '2', '--resume'));
  assert.equal(r.code, 1);
  assert.match(r.err, /--resume: no checkpoint at .*model\/checkpoint\.safetensors/);
  assert.ok(!existsSync(out));
});

test('a non-finite loss (--lr 1e9) exits 1 naming the step and --lr, keeps the last checkpoint, saves no model', async () => {
  const dir = tmp();
  const out = join(dir, 'model');
  const r = await cli(
    lmTrain(lmText(dir), out, '--steps', '20', '--lr', '1e9', '--eval-every', '1'),
  );
  assert.equal(r.code, 1, r.err);
  assert.match(
    r.err,
    /training stopped at step \d+: (the loss|the gradient norm|the validation loss|a weight).* is not finite \(last finite loss \d/,
  );
  assert.match(r.err, /lower --lr/);
  assert.match(r.err, /--skip-nonfinite/);
  assert.ok(!existsSync(join(out, 'model.safetensors')), 'the broken model is not saved');
  assert.ok(existsSync(join(out, 'checkpoint.safetensors')), 'the last good checkpoint is kept');
  assert.deepEqual(leftovers(out), []);
});

test('Ctrl-C writes a checkpoint, prints the resume command, and that command finishes the run', async () => {
  const dir = tmp();
  const out = join(dir, 'model');
  const args = lmTrain(lmText(dir), out, '--steps', '400', '--eval-every', '1');
  const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', main, ...args]);
  let err = '';
  const code = await new Promise<number | null>((resolve) => {
    child.stderr.on('data', (d: Buffer) => {
      const first = !/step \d+\/400/.test(err);
      err += d.toString();
      if (first && /step \d+\/400/.test(err)) child.kill('SIGINT');
    });
    child.on('close', resolve);
  });
  assert.equal(code, 130, err);
  assert.match(err, /interrupted at step \d+\/400; checkpoint in .*model/);
  const cmd = /Resume with:\n\s+transformer (.*)\n/.exec(err);
  assert.ok(cmd, err);
  assert.match(cmd[1], /--resume --out .*model$/);
  assert.ok(existsSync(join(out, 'checkpoint.safetensors')));
  assert.ok(!existsSync(join(out, 'model.safetensors')));
  const stopped = lines(join(out, 'metrics.jsonl')).length;
  assert.ok(stopped < 400);
  const argv = cmd[1].split(' ').map((a) => a.replace(/^'(.*)'$/, '$1'));
  const r = await cli(argv.map((a) => (a === '400' ? String(stopped + 2) : a)));
  assert.equal(r.code, 0, r.err);
  assert.equal(lines(join(out, 'metrics.jsonl')).length, stopped + 2);
  assert.ok(existsSync(join(out, 'model.safetensors')));
});

test('folders of killed runs: one with a checkpoint is named with its resume hint, an empty one removed', async () => {
  const dir = tmp();
  const out = join(dir, 'model');
  mkdirSync(`${out}.tmp-999999998`);
  mkdirSync(`${out}.tmp-999999999`);
  writeFileSync(join(`${out}.tmp-999999999`, 'checkpoint.safetensors'), '');
  const r = await cli(lmTrain(lmText(dir), out, '--steps', '1'));
  assert.equal(r.code, 0, r.err);
  assert.match(
    r.err,
    /note: .*model\.tmp-999999999 holds an interrupted earlier run \(resume it with --resume --out .*model\.tmp-999999999\)/,
  );
  assert.deepEqual(
    leftovers(out),
    ['tmp-999999999'].map((s) => `model.${s}`),
  );
});
