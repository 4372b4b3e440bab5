import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifierToOnnx } from '../../src/export/classifier-onnx.js';
import { setBackend } from '../../src/backend/index.js';
import { noGrad } from '../../src/autograd.js';
import { makeClassificationBatch } from '../../src/data/batching.js';
import { assertClose, backends } from '../helpers.js';
import { int64, runOnnx } from './ort.js';
import { classifierDir } from './model-dirs.js';

for (const variant of [
  { name: 'pre-LN, mean pooling, sinusoidal', over: {} },
  {
    name: 'post-LN, cls pooling, learned, relu',
    over: {
      normFirst: false,
      pooling: 'cls' as const,
      position: 'learned',
      activation: 'relu' as const,
    },
  },
]) {
  test(`EncoderClassifier ONNX (${variant.name}): onnxruntime logits equal ours within 1e-4 on a padded batch`, async () => {
    const { model, tok } = classifierDir(variant.over);
    const texts = ['the lazy dog', 'a cat', 'quick brown fox jumps!'];
    const ids = makeClassificationBatch(
      texts.map((t) => tok.encode(t)),
      { padId: tok.padId, bosId: tok.bosId, maxLen: model.config.maxLen },
    ); // (3, S), <bos> first, padded
    const [B, S] = ids.shape;
    const flat = Array.from(ids.data as Int32Array);
    const y = await runOnnx(classifierToOnnx(model), {
      input_ids: int64(flat, [B, S]),
      attention_mask: int64(
        flat.map((v) => (v === tok.padId ? 0 : 1)),
        [B, S],
      ),
    });
    assert.deepEqual(y.logits.dims, [B, 3]);
    for (const b of backends) {
      setBackend(b);
      const ours = noGrad(() => model.forward(ids)).f32;
      assertClose(y.logits.data as Float32Array, ours, 1e-4, 0, `${b}: logits`);
    }
  });
}
