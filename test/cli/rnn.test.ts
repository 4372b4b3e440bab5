/**
 * `transformer train --task translate --arch rnn | rnn-attention` end to end (in-process, tiny
 * TSV, 3 steps): the model directory says RNNSeq2Seq and `translate`, `eval` and `attention`
 * (the alignment matrix) load it; the
 * architecture flags are refused with the other --arch, naming the flags; the scheduled-sampling
 * decays follow Bengio et al. 2015's formulas.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkTranslateDir, cli, tinyTrain, tmp, translateTsv } from './in-process.js';
import { parseSamplingSchedule } from '../../src/rnn/scheduled-sampling.js';

/** `train --task translate` on a tiny RNN (hidden 16), with the extra arguments. */
function rnnTrain(data: string, out: string, config: string, ...extra: string[]): string[] {
  const steps = ['--steps', '3', '--batch-tokens', '200', '--eval-every', '3'];
  return [
    'train',
    '--task',
    'translate',
    '--data',
    data,
    '--config',
    config,
    '--out',
    out,
    ...steps,
    ...extra,
  ];
}

const runs: [string, string[], string, string][] = [
  ['rnn gru', ['--arch', 'rnn'], 'gru', 'none'],
  [
    'rnn lstm bidirectional',
    ['--arch', 'rnn', '--cell', 'lstm', '--bidirectional'],
    'lstm',
    'none',
  ],
  ['rnn-attention gru bahdanau', ['--arch', 'rnn-attention'], 'gru', 'bahdanau'],
  [
    'rnn-attention lstm general local-p, scheduled sampling',
    [
      '--arch',
      'rnn-attention',
      '--cell',
      'lstm',
      '--rnn-attention',
      'general',
      '--local-window',
      '2',
      '--scheduled-sampling',
      'inverse-sigmoid:k=2',
    ],
    'lstm',
    'general',
  ],
];

for (const [name, flags, cell, attention] of runs) {
  test(`train --arch ${name}: translate and eval load the directory`, async () => {
    const dir = tmp();
    const data = translateTsv(dir);
    const config = join(dir, 'rnn.json');
    writeFileSync(config, JSON.stringify({ hiddenSize: 16, embedDim: 8 }));
    const out = join(dir, 'model');
    const r = await cli(rnnTrain(data, out, config, ...flags));
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /translation: RNNSeq2Seq/);
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    assert.equal(cfg.model, 'RNNSeq2Seq');
    assert.equal(cfg.config.cell, cell);
    assert.equal(cfg.config.attention, attention);
    assert.equal(cfg.config.hiddenSize, 16);
    const svg = join(dir, 'att.svg');
    const a = await checkTranslateDir(cli, out, data, 2, svg);
    if (attention === 'none') {
      assert.notEqual(a.code, 0);
      assert.match(a.err, /without attention \(--arch rnn\): it has no alignment to draw/);
    } else {
      assert.equal(a.code, 0, a.err);
      assert.ok(readFileSync(svg, 'utf8').includes(`${attention} alignment (target x source`));
    }
  });
}

test('train refuses the flags of the other --arch, naming them', async () => {
  const dir = tmp();
  const data = translateTsv(dir);
  const out = join(dir, 'model');
  const base = ['train', '--task', 'translate', '--data', data, '--steps', '1', '--out', out];
  const cases: [string[], RegExp][] = [
    [
      ['--arch', 'rnn', '--attention', 'full', '--heads', 'multi-query'],
      /--attention, --heads apply to --arch transformer only, not rnn/,
    ],
    [['--arch', 'rnn-attention', '--cross-attention', 'final'], /--cross-attention apply to/],
    [['--arch', 'rnn-attention', '--depth', 'fixed', '--norm', 'rms'], /--depth, --norm/],
    [['--arch', 'rnn', '--preset', 'tiny'], /--preset apply to --arch transformer only/],
    [['--arch', 'rnn', '--position', 'learned'], /--position apply to --arch transformer/],
    [['--cell', 'lstm', '--bidirectional'], /--cell, --bidirectional apply to --arch rnn/],
    [['--arch', 'transformer', '--rnn-attention', 'dot'], /--rnn-attention apply to --arch rnn/],
    [['--scheduled-sampling', 'cosine'], /unknown decay 'cosine'/],
    [['--arch', 'rnn', '--rnn-attention', 'dot'], /--rnn-attention need --arch rnn-attention/],
    [['--arch', 'rnn', '--local-window', '3'], /--local-window need --arch rnn-attention/],
    [['--arch', 'lstm'], /--arch: 'lstm' is not transformer, rnn or rnn-attention/],
    [['--arch', 'rnn', '--cell', 'rnn'], /--cell: 'rnn' is not gru or lstm/],
    [['--arch', 'rnn-attention', '--rnn-attention', 'luong'], /--rnn-attention: 'luong'/],
    [
      ['--arch', 'rnn', '--scheduled-sampling', 'exponential:k=2'],
      /--scheduled-sampling 'exponential:k=2': k must be in \(0, 1\)/,
    ],
    [['--arch', 'rnn', '--scheduled-sampling', 'cosine'], /unknown decay 'cosine'/],
  ];
  for (const [flags, want] of cases) {
    const r = await cli([...base, ...flags]);
    assert.notEqual(r.code, 0, flags.join(' '));
    assert.match(r.err, want, flags.join(' '));
  }
  const lm = await cli(['train', '--task', 'lm', '--arch', 'rnn', '--steps', '1']);
  assert.match(lm.err, /--arch rnn applies to --task translate only/);
});

test('scheduled sampling: the decays of Bengio et al. 2015', () => {
  const steps = [0, 1, 5, 50, 500, 5000];
  const exp = parseSamplingSchedule('exponential:k=0.99', 100);
  const sig = parseSamplingSchedule('inverse-sigmoid:k=10', 100);
  const lin = parseSamplingSchedule('linear:k=0.9,c=0.01,min=0.2', 100);
  for (const i of steps) {
    assert.ok(Math.abs(exp.teacherForcing(i) - 0.99 ** i) < 1e-12);
    assert.ok(Math.abs(sig.teacherForcing(i) - 10 / (10 + Math.exp(i / 10))) < 1e-12);
    assert.ok(Math.abs(lin.teacherForcing(i) - Math.max(0.2, 0.9 - 0.01 * i)) < 1e-12);
  }
  assert.equal(exp.teacherForcing(0), 1);
  // linear's default slope takes eps from 1 to 0 over the run's steps.
  const def = parseSamplingSchedule('linear', 200);
  assert.equal(def.teacherForcing(0), 1);
  assert.ok(Math.abs(def.teacherForcing(100) - 0.5) < 1e-12);
  assert.equal(def.teacherForcing(200), 0);
  assert.equal(def.spec, 'linear:k=1,c=0.005,min=0');
  // Decreasing: more of the model's own tokens as training goes on.
  for (const s of [exp, sig, lin, def])
    for (let i = 1; i < 300; i++) assert.ok(s.teacherForcing(i) <= s.teacherForcing(i - 1));
  assert.throws(() => parseSamplingSchedule('inverse-sigmoid:k=0.5', 10), /k must be >= 1/);
  assert.throws(() => parseSamplingSchedule('linear:z=1', 10), /unknown parameter 'z'/);
  assert.throws(() => parseSamplingSchedule('linear:c=x', 10), /c must be a number/);
});

test('train --scheduled-sampling with the Transformer (two-pass) runs, eval --exposure-bias reads it; refused outside translate', async () => {
  const dir = tmp();
  const data = translateTsv(dir);
  const out = join(dir, 'model');
  const flags = ['--steps', '2', '--batch-tokens', '200', '--eval-every', '2'];
  const r = await cli(
    tinyTrain('translate', data, out, ...flags, '--scheduled-sampling', 'linear:k=0.5'),
  );
  assert.equal(r.code, 0, r.err);
  assert.match(
    r.err,
    /translation: Seq2SeqTransformer, scheduled sampling linear:k=0.5,c=0.25,min=0/,
  );
  const e = await cli(['eval', '--model', out, '--data', data, '--exposure-bias', '--json']);
  assert.equal(e.code, 0, e.err);
  const j = JSON.parse(e.out);
  assert.equal(j.task, 'translate');
  assert.ok(j.positions.length > 1 && j.overall.tokens > 0);
  const p0 = j.positions[0];
  assert.ok(Math.abs(p0.teacherForcedLoss - p0.freeRunningLoss) < 1e-5, 'both read bos first');
  const table = await cli(['eval', '--model', out, '--data', data, '--exposure-bias']);
  assert.match(table.out, /positions {2}tokens {2}tf_loss {2}free_loss/);
  assert.match(table.out, /\nall +\d+ /);
  const lm = await cli(['train', '--task', 'lm', '--steps', '1', '--scheduled-sampling', 'linear']);
  assert.notEqual(lm.code, 0);
  assert.match(lm.err, /--scheduled-sampling applies to --task translate only, not lm/);
});
