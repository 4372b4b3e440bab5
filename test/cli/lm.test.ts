/** End to end: `transformer train --task lm` then `transformer generate`, and CLI errors. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli/index.js';

async function run(args: string[]): Promise<{ out: string; err: string; code: number }> {
  const out: string[] = [];
  const err: string[] = [];
  const wo = process.stdout.write.bind(process.stdout);
  const we = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => (
    out.push(String(s)),
    true
  )) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => (
    err.push(String(s)),
    true
  )) as typeof process.stderr.write;
  process.exitCode = 0;
  try {
    await main(args);
  } finally {
    process.stdout.write = wo;
    process.stderr.write = we;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { out: out.join(''), err: err.join(''), code };
}

test('train a tiny character LM, then generate from the saved model directory', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tts-cli-'));
  const data = join(dir, 'text.txt');
  writeFileSync(data, 'to be or not to be, that is the question. '.repeat(40));
  const out = join(dir, 'model');
  const r = await run([
    'train',
    '--task',
    'lm',
    '--data',
    data,
    '--preset',
    'tiny',
    '--steps',
    '6',
    '--batch-size',
    '2',
    '--eval-every',
    '3',
    '--eval-batches',
    '1',
    '--out',
    out,
  ]);
  assert.equal(r.code, 0, r.err);
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'metrics.jsonl'])
    assert.ok(existsSync(join(out, f)), f);
  const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(lines.length, 6);
  assert.ok(lines[2].valid_loss > 0 && lines[5].valid_loss > 0);
  const g = await run([
    'generate',
    '--model',
    out,
    '--prompt',
    'to be',
    '--max-tokens',
    '10',
    '--seed',
    '3',
  ]);
  assert.equal(g.code, 0, g.err);
  assert.ok(g.out.startsWith('to be') && g.out.trimEnd().length >= 'to be'.length);
  const g2 = await run([
    'generate',
    '--model',
    out,
    '--prompt',
    'to be',
    '--max-tokens',
    '10',
    '--seed',
    '3',
  ]);
  assert.equal(g2.out, g.out, 'same seed, same text');
});

test('CLI errors name the bad argument', async () => {
  const a = await run(['generate', '--model', join(tmpdir(), 'no-such-model-dir-xyz')]);
  assert.equal(a.code, 1);
  assert.match(a.err, /--model: .* has no config\.json/);
  const b = await run(['train', '--data', join(tmpdir(), 'missing-file-xyz.txt'), '--steps', '1']);
  assert.match(b.err, /--data: no such file/);
  const c = await run(['train', '--preset', 'nope', '--steps', '1']);
  assert.match(c.err, /--preset: unknown LM preset 'nope'/);
});
