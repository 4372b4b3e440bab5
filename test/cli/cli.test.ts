/**
 * End to end through the `transformer` CLI on tiny models: train (lm, translate, classify),
 * resume, generate, translate, classify, eval, attention; and errors that name the argument.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  checkTranslateDir,
  classifyTsv,
  lmText,
  lmTrain,
  tinyTrain,
  tmp,
  translateTsv,
  type CliResult,
} from './in-process.js';
import { loadNativeAddon } from '../../src/backend/native.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

/** Run the CLI in a child process (as a user would), capturing its output. */
async function run(args: string[]): Promise<CliResult> {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8' });
  return { out: r.stdout, err: r.stderr, code: r.status ?? 1 };
}

const metrics = (dir: string) =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, number>);

test('lm: train, resume to more steps, generate deterministically', async () => {
  const dir = tmp();
  const out = join(dir, 'model');
  const base = lmTrain(lmText(dir, 40), out, '--eval-every', '3');
  const r = await run([...base, '--steps', '6']);
  assert.equal(r.code, 0, r.err);
  for (const f of [
    'config.json',
    'model.safetensors',
    'tokenizer.json',
    'metrics.jsonl',
    'loss.svg',
    'checkpoint.safetensors',
  ]) {
    assert.ok(existsSync(join(out, f)), f);
  }
  assert.equal(metrics(out).length, 6);
  const r2 = await run([...base, '--steps', '9', '--resume']);
  assert.equal(r2.code, 0, r2.err);
  assert.deepEqual(
    metrics(out).map((m) => m.step),
    [1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
  const generate = ['generate', '--model', out, '--prompt', 'to be', '--max-tokens', '10'];
  const g = await run([...generate, '--seed', '3']);
  assert.equal(g.code, 0, g.err);
  assert.ok(g.out.startsWith('to be'));
  const g2 = await run([...generate, '--seed', '3']);
  assert.equal(g2.out, g.out, 'same seed, same text');
});

test('translate training takes bf16 GEMMs by default only where they are native and a probe measures them faster; --precision or an RNN keeps float32', () => {
  const dir = tmp();
  const data = translateTsv(dir, 30);
  const env = { ...process.env };
  delete env.TRANSFORMER_PRECISION;
  const rnnConfig = join(dir, 'rnn.json');
  writeFileSync(rnnConfig, JSON.stringify({ hiddenSize: 16, embedDim: 8 }));
  const train = (name: string, ...extra: string[]): string => {
    const args = extra.includes('rnn')
      ? [
          'train',
          '--task',
          'translate',
          '--data',
          data,
          '--out',
          join(dir, name),
          '--steps',
          '1',
        ].concat(['--config', rnnConfig, ...extra])
      : tinyTrain('translate', data, join(dir, name), '--steps', '1', ...extra);
    const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], {
      encoding: 'utf8',
      env,
    });
    assert.equal(r.status, 0, r.stderr);
    return r.stderr;
  };
  // Native bf16: the addon's oneDNN has the bf16 GEMM and the CPU the avx512_bf16 flag.
  const addon = loadNativeAddon();
  const cpu = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const native = !('error' in addon) && addon.gemmInfo().bf16 && / avx512_bf16( |$)/m.test(cpu);
  // Where it is native, a probe GEMM decides, and the log says which and why (the times).
  const line = /precision: bf16 GEMMs/;
  const probed =
    /precision: (bf16 GEMMs, float32 accumulation \(.*and it is faster|float32 GEMMs \(the CPU has AVX512-BF16, but bf16 was not faster here): probe GEMM [\d.]+ ms bf16, [\d.]+ ms float32/;
  const auto = train('auto', '--batch-tokens', '200');
  assert.equal(probed.test(auto), native, 'the default');
  if (!native) assert.doesNotMatch(auto, line);
  for (const log of [
    train('fp32', '--batch-tokens', '200', '--precision', 'fp32'),
    train('rnn', '--batch-tokens', '200', '--arch', 'rnn'),
  ]) {
    assert.doesNotMatch(log, line);
    assert.doesNotMatch(log, probed);
  }
});

test('translate: train on a TSV, translate (greedy and beam), eval BLEU as JSON, attention figure', async () => {
  const dir = tmp();
  const data = translateTsv(dir, 60);
  const out = join(dir, 'model');
  const steps = ['--steps', '4', '--batch-tokens', '200', '--eval-every', '2'];
  const r = await run(tinyTrain('translate', data, out, ...steps));
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /test BLEU/);
  assert.ok(metrics(out).some((m) => m.valid_bleu !== undefined));
  const svg = join(dir, 'att.svg');
  const a = await checkTranslateDir(run, out, data, 3, svg);
  assert.equal(a.code, 0, a.err);
  const s = readFileSync(svg, 'utf8');
  for (const name of ['encoder self-attention', 'decoder self-attention', 'cross-attention'])
    assert.ok(s.includes(name), name);
});

test('classify: train on a TSV, classify, eval accuracy', async () => {
  const dir = tmp();
  const data = classifyTsv(dir, 60);
  const out = join(dir, 'model');
  const steps = ['--steps', '4', '--batch-tokens', '64', '--eval-every', '2'];
  const r = await run(tinyTrain('classify', data, out, ...steps));
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /test accuracy/);
  const c = await run(['classify', '--model', out, 'great movie', 'hated it']);
  assert.equal(c.code, 0, c.err);
  const lines = c.out.trim().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0], /^(pos|neg)\t0\.\d{4}$/);
  const e = await run(['eval', '--model', out, '--data', data, '--json']);
  const j = JSON.parse(e.out);
  assert.ok(j.accuracy >= 0 && j.accuracy <= 1 && j.examples > 0);
});

test('CLI errors name the bad argument', async () => {
  const a = await run(['generate', '--model', join(tmpdir(), 'no-such-model-dir-xyz')]);
  assert.equal(a.code, 1);
  assert.match(a.err, /--model: .* has no config\.json/);
  const b = await run([
    'train',
    '--task',
    'lm',
    '--data',
    join(tmpdir(), 'missing-file-xyz.txt'),
    '--steps',
    '1',
  ]);
  assert.equal(b.code, 1);
  assert.match(b.err, /missing-file-xyz\.txt/);
  const c = await run(['train', '--task', 'lm', '--preset', 'nope', '--steps', '1']);
  assert.match(c.err, /--preset: unknown language-model preset 'nope'/);
  const d = await run(['train', '--task', 'lm', '--steps', '0']);
  assert.match(d.err, /--steps must be an integer >= 1, got '0'/);
  const dir = tmp();
  const bad = join(dir, 'bad.tsv');
  writeFileSync(bad, 'a\tb\nno tab here\n');
  const e = await run(['train', '--task', 'translate', '--data', bad, '--steps', '1']);
  assert.match(e.err, /bad\.tsv:2:/);
});
