import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportModel } from '../../src/export/index.js';
import { decoderToOnnx, encoderToOnnx } from '../../src/export/seq2seq-onnx.js';
import { setBackend } from '../../src/backend/index.js';
import { noGrad } from '../../src/autograd.js';
import { tensor, type Tensor } from '../../src/tensor.js';
import { assertClose, backends } from '../helpers.js';
import { float32, int64, runOnnx } from './ort.js';
import { seq2seqDir, tempDir } from './model-dirs.js';
import type * as ort from 'onnxruntime-node';

const flat = (t: Tensor): number[] => Array.from(t.data as Int32Array);

for (const variant of [
  { name: 'post-LN, relu, untied', over: { tieWeights: false } },
  { name: 'pre-LN, gelu, tied', over: { normFirst: true, activation: 'gelu' as const } },
]) {
  test(`Seq2SeqTransformer ONNX (${variant.name}): encoder and cached decoder logits equal ours within 1e-4`, async () => {
    const { model, tok } = seq2seqDir(variant.over, 0);
    const [H, D, L] = [2, 8, 2];
    const src = tensor(
      [
        [5, 9, 4, 12, 7],
        [6, 11, 8, tok.padId, tok.padId],
      ],
      undefined,
      'int32',
    ); // (2, 5)
    const [B, S] = src.shape;
    const mask = flat(src).map((v) => (v === tok.padId ? 0 : 1));
    const enc = await runOnnx(encoderToOnnx(model), {
      input_ids: int64(flat(src), [B, S]),
      attention_mask: int64(mask, [B, S]),
    });
    const memory = enc.last_hidden_state.data as Float32Array;
    const decoder = decoderToOnnx(model);
    const tgt = [
      [tok.bosId, 4, 9],
      [tok.bosId, 10, 5],
    ];
    // Step by step with the cache, as transformers.js runs it.
    let past: Record<string, ort.Tensor> | null = null;
    const steps: Float32Array[] = [];
    for (let t = 0; t < 3; t++) {
      const feeds: Record<string, ort.Tensor> = {
        input_ids: int64(
          tgt.map((r) => r[t]),
          [B, 1],
        ),
        encoder_attention_mask: int64(mask, [B, S]),
        encoder_hidden_states: float32(memory, [B, S, 16]),
      };
      for (let i = 0; i < L; i++)
        for (const kv of ['key', 'value'])
          feeds[`past_key_values.${i}.decoder.${kv}`] = past
            ? past[`present.${i}.decoder.${kv}`]
            : float32(new Float32Array(0), [B, H, 0, D]);
      past = await runOnnx(decoder, feeds);
      steps.push(past.logits.data as Float32Array);
    }
    for (const b of backends) {
      setBackend(b);
      noGrad(() => {
        const ours = model.encode(src);
        assertClose(memory, ours.memory.f32, 1e-4, 0, `${b}: encoder output`);
        const caches = model.newCaches();
        for (let t = 0; t < 3; t++) {
          const ids = tensor(
            tgt.map((r) => [r[t]]),
            undefined,
            'int32',
          );
          const logits = model.project(model.decode(ids, ours.memory, ours.srcPadMask, caches, t));
          assertClose(steps[t], logits.f32, 1e-4, 0, `${b}: decoder logits at step ${t}`);
        }
      });
    }
  });
}

test('export --format onnx refuses a seq2seq model it cannot load in transformers.js or compute exactly', () => {
  const layerwise = seq2seqDir({ crossAttention: 'layerwise' }, 0);
  assert.throws(
    () => exportModel(layerwise.dir, 'onnx', join(tempDir('tts-export-bad'), 'o')),
    /supports crossAttention 'final' only; this model uses 'layerwise'/,
  );
  const separate = seq2seqDir({}, 0);
  copyFileSync(join(separate.dir, 'tokenizer.json'), join(separate.dir, 'tokenizer_target.json'));
  assert.throws(
    () => exportModel(separate.dir, 'onnx', join(tempDir('tts-export-bad'), 'o')),
    /needs one joint vocabulary .* separate source and target vocabularies \(tokenizer_target.json\)/,
  );
});
