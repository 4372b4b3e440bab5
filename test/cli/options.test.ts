/**
 * `transformer train` options (issue #11 item 6, issue #12 selection flags): options that do
 * not apply to the task are refused naming what applies; --config fields are checked before
 * any data is read; --attention / --position / --heads reach config.json and come back on
 * load; `info --attention`, `info --data`, `--version`; usage errors in one line.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { describeAttentionVariants } from '../../src/attention/registry.js';
import { loadLanguageModel } from '../../src/tasks/lm.js';
import { load } from '../../src/tasks/load.js';
import { cli, classifyTsv, lmText, lmTrain, tinyTrain, tmp, translateTsv } from './in-process.js';

test('options that do not apply to the task are refused, naming the option and what applies', async () => {
  const dir = tmp();
  const lm = lmText(dir);
  const out = join(dir, 'm');
  const cases: [string[], RegExp][] = [
    [
      lmTrain(lm, out, '--epochs', '2'),
      /--epochs does not apply to --task lm \(it applies to translate, classify; lm samples random windows: use --steps\)/,
    ],
    [lmTrain(lm, out, '--batch-tokens', '100'), /--batch-tokens does not apply to --task lm/],
    [
      ['train', '--task', 'translate', '--data', translateTsv(dir), '--batch-size', '8'],
      /--batch-size does not apply to --task translate \(it applies to lm/,
    ],
    [
      ['train', '--task', 'classify', '--data', classifyTsv(dir), '--batch-size', '8'],
      /--batch-size does not apply to --task classify/,
    ],
    [
      ['train', '--task', 'classify', '--data', classifyTsv(dir), '--separate-vocab'],
      /--separate-vocab does not apply to --task classify/,
    ],
    [lmTrain(lm, out, '--vocab-size', '300'), /--vocab-size does not apply to --task lm/],
    [
      ['train', '--task', 'classify', '--data', classifyTsv(dir), '--arch', 'tfidf-logreg'].concat([
        '--vocab-size',
        '300',
      ]),
      /--vocab-size do not apply to --arch tfidf-logreg/,
    ],
  ];
  for (const [args, want] of cases) {
    const r = await cli(args);
    assert.equal(r.code, 1, args.join(' '));
    assert.match(r.err, want);
  }
});

test('--vocab-size sets the learned BPE vocabulary (translate, classify); not with --init', async () => {
  const dir = tmp();
  for (const [task, data] of [
    ['translate', translateTsv(dir, 40)],
    ['classify', classifyTsv(dir, 60)],
  ] as const) {
    const sizes: number[] = [];
    for (const v of [262, 270]) {
      const out = join(dir, `${task}-${v}`);
      const r = await cli(tinyTrain(task, data, out, '--steps', '1', '--vocab-size', String(v)));
      assert.equal(r.code, 0, r.err);
      const tok = JSON.parse(readFileSync(join(out, 'tokenizer.json'), 'utf8')) as {
        model: { vocab: Record<string, number> };
      };
      sizes.push(Object.keys(tok.model.vocab).length);
    }
    // A BPE vocabulary may end below the size asked (no pair left to merge), never above.
    assert.ok(sizes[0] <= 262 && sizes[1] <= 270 && sizes[1] > sizes[0], `${task}: ${sizes}`);
  }
  const bad = await cli(
    ['train', '--task', 'classify', '--data', classifyTsv(dir)].concat([
      '--init',
      dir,
      '--vocab-size',
      '300',
    ]),
  );
  assert.equal(bad.code, 1);
  assert.match(bad.err, /--vocab-size does not apply with --init/);
  const small = await cli(['train', '--data', translateTsv(dir), '--vocab-size', '100']);
  assert.equal(small.code, 1);
  assert.match(small.err, /--vocab-size/);
});

test('--config: unknown fields (with the known ones), data-set fields and bad values are refused', async () => {
  const dir = tmp();
  const lm = lmText(dir);
  const cfg = (obj: unknown) => {
    const p = join(dir, `c${Math.random()}.json`);
    writeFileSync(p, JSON.stringify(obj));
    return p;
  };
  const r1 = await cli(lmTrain(lm, join(dir, 'm'), '--config', cfg({ dmodel: 64 })));
  assert.match(
    r1.err,
    /--config .*\.json: lm config: unknown field 'dmodel' \(known: .*dModel.*\)/,
  );
  const r2 = await cli(lmTrain(lm, join(dir, 'm'), '--config', cfg({ vocabSize: 5 })));
  assert.match(r2.err, /'vocabSize' is set from the data for --task lm/);
  const r3 = await cli(lmTrain(lm, join(dir, 'm'), '--config', cfg({ numLayers: -1 })));
  assert.match(r3.err, /numLayers = -1 is not allowed/);
  const r4 = await cli([
    'train',
    '--task',
    'classify',
    '--data',
    classifyTsv(dir),
    '--config',
    cfg({ maxLen: 9 }),
  ]);
  assert.match(r4.err, /'maxLen' is set from the data for --task classify/);
});

test('--attention / --position / --heads: unknown names or parameters are refused naming them', async () => {
  const dir = tmp();
  const lm = lmText(dir);
  const out = join(dir, 'm');
  const r1 = await cli(lmTrain(lm, out, '--attention', 'nosuch'));
  assert.match(r1.err, /--attention: .*'nosuch'.*full/);
  const r2 = await cli(lmTrain(lm, out, '--attention', 'local:width=8'));
  assert.match(r2.err, /--attention: .*width/);
  const r3 = await cli(lmTrain(lm, out, '--position', 'spiral'));
  assert.match(r3.err, /--position: .*spiral/);
  const r4 = await cli(lmTrain(lm, out, '--heads', 'grouped-query:groups=3'));
  assert.match(r4.err, /--heads: .*groups=3 must divide the 2 heads/);
});

test('--attention local:window=8 --position rope is saved in config.json and restored on load', async () => {
  const dir = tmp();
  const out = join(dir, 'm');
  const r = await cli(
    lmTrain(
      lmText(dir),
      out,
      '--steps',
      '3',
      '--attention',
      'local:window=8',
      '--position',
      'rope',
    ),
  );
  assert.equal(r.code, 0, r.err);
  const saved = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.equal(saved.config.attention, 'local:window=8');
  assert.equal(saved.config.position, 'rope');
  const m = loadLanguageModel(out);
  const c = m.model.config as { attention: string; position: string };
  assert.equal(c.attention, 'local:window=8');
  assert.match(c.position, /^rope(:|$)/);
  const any = load(out);
  assert.equal(any.task, 'lm');
  assert.equal(
    m.generate('to be', { maxTokens: 5, seed: 1 }),
    m.generate('to be', { maxTokens: 5, seed: 1 }),
  );
});

test('--depth / --norm / --cross-attention reach config.json (universal + ACT, RMSNorm) and are refused where they do not apply', async () => {
  const dir = tmp();
  const lm = lmText(dir);
  const out = join(dir, 'ut');
  const r = await cli(
    lmTrain(lm, out, '--steps', '2', '--depth', 'universal:max-steps=2,act=true', '--norm', 'rms'),
  );
  assert.equal(r.code, 0, r.err);
  const saved = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.match(saved.config.depth, /^universal:max-steps=2,act=true/);
  assert.equal(saved.config.norm, 'rms');
  assert.match((loadLanguageModel(out).model.config as { depth: string }).depth, /^universal/);
  const e1 = await cli(lmTrain(lm, join(dir, 'x'), '--cross-attention', 'layerwise'));
  assert.match(e1.err, /--cross-attention: applies to --task translate only/);
  const e2 = await cli(lmTrain(lm, join(dir, 'y'), '--norm', 'group'));
  assert.match(e2.err, /--norm: 'group' is not one of layer, rms, batch/);
  const e3 = await cli(lmTrain(lm, join(dir, 'z'), '--depth', 'deep'));
  assert.match(e3.err, /--depth: .*'deep'/);
});

test('info --attention lists every variant, position and head layout, name first; info --data; --version', async () => {
  const a = await cli(['info', '--attention']);
  assert.equal(a.code, 0, a.err);
  const lines = a.out.split('\n');
  for (const l of describeAttentionVariants()) assert.ok(lines.includes(l), l);
  for (const name of [
    'full',
    'local',
    'rope',
    'alibi',
    'sinusoidal',
    'multi-query',
    'grouped-query',
  ])
    assert.ok(
      lines.some((l) => l.startsWith(name)),
      name,
    );
  const d = await cli(['info', '--data']);
  assert.match(d.out, /^tinyshakespeare {2}lm {2}/m);
  assert.match(d.out, /^spamassassin {2}classify {2}/m);
  const v = await cli(['--version']);
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  assert.equal(v.out.trim(), pkg.version);
});

test('a usage error prints one line and "see --help", not the whole help', async () => {
  const r = await cli(['train', '--no-such-option']);
  assert.equal(r.code, 1);
  assert.deepEqual(r.err.trim().split('\n'), [
    "error: unknown option '--no-such-option'",
    '(see --help)',
  ]);
  const c = await cli(['trian']);
  assert.equal(c.code, 1);
  assert.ok(c.err.trim().split('\n').length <= 3, c.err);
  assert.doesNotMatch(c.err, /Commands:/);
});
