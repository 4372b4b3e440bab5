import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decoderLMToOnnx } from '../../src/export/decoder-lm-onnx.js';
import { setBackend } from '../../src/backend/index.js';
import { noGrad } from '../../src/autograd.js';
import { tensor } from '../../src/tensor.js';
import { assertClose, backends } from '../helpers.js';
import { float32, int64, runOnnx } from './ort.js';
import { TEXT, lmDir, tempDir } from './model-dirs.js';
import { TransformerXL } from '../../src/models/transformer-xl.js';
import { saveModelDir } from '../../src/tasks/modeldir.js';
import { trainCharTokenizer } from '../../src/tokenizers/index.js';
import { cli } from '../cli/in-process.js';
import { exportModel } from '../../src/export/index.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as ort from 'onnxruntime-node';

const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);

/** Feeds for the exported LM: ids at positions P.., a cache of P positions (empty if none). */
function feeds(
  ids: number[],
  P: number,
  past: Record<string, ort.Tensor> | null,
  layers: number,
  H: number,
  D: number,
) {
  const f: Record<string, ort.Tensor> = {
    input_ids: int64(ids, [1, ids.length]),
    attention_mask: int64(
      range(0, P + ids.length).map(() => 1),
      [1, P + ids.length],
    ),
    position_ids: int64(range(P, P + ids.length), [1, ids.length]),
  };
  for (let i = 0; i < layers; i++)
    for (const kv of ['key', 'value'])
      f[`past_key_values.${i}.${kv}`] = past
        ? past[`present.${i}.${kv}`]
        : float32(new Float32Array(0), [1, H, 0, D]);
  return f;
}

for (const variant of [
  { name: 'pre-LN, learned positions, gelu', over: {} },
  {
    name: 'post-LN, sinusoidal, relu, RMSNorm',
    over: {
      normFirst: false,
      position: 'sinusoidal',
      activation: 'relu' as const,
      norm: 'rms' as const,
    },
  },
]) {
  test(`DecoderLM ONNX (${variant.name}): onnxruntime logits equal ours within 1e-4, with and without past`, async () => {
    const { model: lm } = lmDir(variant.over);
    const bytes = decoderLMToOnnx(lm);
    const [L, H, D] = [2, lm.config.nhead, lm.config.dModel / lm.config.nhead];
    const ids = [5, 9, 4, 12, 7, 6, 11];
    const full = await runOnnx(bytes, feeds(ids, 0, null, L, H, D));
    const first = await runOnnx(bytes, feeds(ids.slice(0, 4), 0, null, L, H, D));
    const rest = await runOnnx(bytes, feeds(ids.slice(4), 4, first, L, H, D));
    assert.deepEqual(rest['present.1.key'].dims, [1, H, ids.length, D]);
    for (const b of backends) {
      setBackend(b);
      noGrad(() => {
        const ours = lm.forward(tensor([ids], undefined, 'int32')).f32;
        assertClose(full.logits.data as Float32Array, ours, 1e-4, 0, `${b}: logits without past`);
        const caches = lm.newCaches();
        lm.forward(tensor([ids.slice(0, 4)], undefined, 'int32'), caches, 0);
        const step = lm.forward(tensor([ids.slice(4)], undefined, 'int32'), caches, 4).f32;
        assertClose(rest.logits.data as Float32Array, step, 1e-4, 0, `${b}: logits with past`);
      });
    }
  });
}

test('transformer export --format onnx writes the Hugging Face directory; its graph runs in onnxruntime', async () => {
  const { dir, model: lm } = lmDir();
  const out = join(tempDir('tts-export-cli'), 'out');
  const r = await cli(['export', '--model', dir, '--format', 'onnx', '--out', out]);
  assert.equal(r.code, 0, r.err);
  for (const f of [
    'config.json',
    'generation_config.json',
    'tokenizer.json',
    'tokenizer_config.json',
  ])
    assert.ok(existsSync(join(out, f)), f);
  const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, number>;
  assert.deepEqual(
    [cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.vocab_size],
    [2, 2, 16, lm.config.vocabSize],
  );
  const ids = [4, 8, 15];
  const y = await runOnnx(join(out, 'onnx', 'model.onnx'), feeds(ids, 0, null, 2, 2, 8));
  const ours = noGrad(() => lm.forward(tensor([ids], undefined, 'int32')).f32);
  assertClose(y.logits.data as Float32Array, ours, 1e-4, 0, 'logits of the written file');
  const again = await cli(['export', '--model', dir, '--format', 'onnx', '--out', out]);
  assert.equal(again.code, 1);
  assert.match(again.err, /--out: .* is not empty \(add --overwrite/);
  const bad = await cli(['export', '--model', dir, '--format', 'tflite', '--out', out]);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /tflite/);
});

test('export --format onnx refuses what it cannot convert exactly, naming the option', () => {
  const cases: [Parameters<typeof lmDir>[0], RegExp][] = [
    [
      { attention: 'local:window=4' },
      /supports attention 'full' only; this model uses 'local:window=4'/,
    ],
    [
      { position: 'rope' },
      /supports position 'learned' or 'sinusoidal' only; this model uses 'rope:base=10000'/,
    ],
    [{ heads: 'multi-query' }, /supports heads 'standard' only; this model uses 'multi-query'/],
  ];
  for (const [over, message] of cases) {
    const { dir } = lmDir(over, 0);
    assert.throws(() => exportModel(dir, 'onnx', join(tempDir('tts-export-bad'), 'o')), message);
  }
});

test('export refuses Transformer-XL, naming the model and why', () => {
  const tok = trainCharTokenizer(TEXT);
  const config = {
    vocabSize: tok.vocabSize,
    blockSize: 8,
    dModel: 16,
    nhead: 2,
    numLayers: 1,
    memLen: 8,
  };
  const dir = tempDir('tts-export-xl');
  saveModelDir(dir, { task: 'lm', model: 'TransformerXL', config }, new TransformerXL(config), tok);
  for (const format of ['onnx', 'safetensors-hf'])
    assert.throws(
      () => exportModel(dir, format, join(tempDir('tts-export-bad'), 'o')),
      format === 'onnx'
        ? /export --format onnx cannot convert model TransformerXL: its segment-level memory/
        : /converts DecoderLM \(to GPT2LMHeadModel\) only; TransformerXL/,
    );
});
