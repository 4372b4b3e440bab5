/**
 * Early exit (DeeBERT / PABEE) for the encoder classifier: exits after every layer, the
 * joint loss, confidence and patience exits, refusal without exits, save/load.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noGrad } from '../../src/autograd.js';
import { Generator } from '../../src/random.js';
import { tensor, type Tensor } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import { EncoderClassifier, type EncoderClassifierConfig } from '../../src/models/classifier.js';
import { ConfigError } from '../../src/models/config.js';
import { loadModel, saveModel } from '../../src/io/checkpoint.js';
import { setBackend } from '../../src/backend/index.js';
import { assertClose, backends } from '../helpers.js';

const config: EncoderClassifierConfig = {
  vocabSize: 20,
  numClasses: 3,
  dModel: 16,
  nhead: 2,
  numLayers: 4,
  dimFeedforward: 32,
  dropout: 0,
  maxLen: 16,
  earlyExit: true,
};
// four examples, padded with 0
const ids = tensor(
  Int32Array.from([1, 5, 6, 7, 8, 9, 1, 3, 4, 0, 0, 0, 1, 11, 12, 13, 0, 0, 1, 17, 2, 9, 4, 6]),
  [4, 6],
  'int32',
);

function model(over: Partial<EncoderClassifierConfig> = {}, seed = 3): EncoderClassifier {
  return new EncoderClassifier({ ...config, ...over }, new Generator(seed)).eval();
}

function argmaxRows(t: Tensor): number[] {
  return Array.from(F.argmax(t, 1).i32);
}

/** Exit i predicts class cls[i] with margin 1 for every input (weights 0, bias one-hot). */
function fixExits(m: EncoderClassifier, cls: number[]): void {
  const heads = [...m.exits.items, m.classifier];
  heads.forEach((h, i) => {
    h.weight.f32.fill(0);
    h.bias!.f32.fill(0);
    h.bias!.f32[cls[i]] = 1;
  });
}

describe('early exit', () => {
  for (const backend of backends) {
    describe(`${backend} backend`, () => {
      test.beforeEach(() => setBackend(backend));
      test(`[${backend}] threshold > 1 equals the full model and runs every layer`, () => {
        const m = model();
        const full = noGrad(() => m.forward(ids));
        const r = m.classifyEarlyExit(ids, { threshold: 1.5 });
        assert.deepEqual(Array.from(r.predictions), argmaxRows(full));
        assert.deepEqual(Array.from(r.layersRun), [4, 4, 4, 4]);
        assertClose(r.logits.f32, full.f32, 1e-5, 1e-5, 'logits');
      });

      test(`[${backend}] threshold 0 exits after layer 1 with exit 0's logits`, () => {
        const m = model();
        const first = noGrad(() => m.forwardExits(ids)[0]);
        const r = m.classifyEarlyExit(ids, { threshold: 0 });
        assert.deepEqual(Array.from(r.layersRun), [1, 1, 1, 1]);
        assertClose(r.logits.f32, first.f32, 1e-6, 1e-6, 'logits');
      });

      test(`[${backend}] examples exit at different layers: each gets its own exit's logits`, () => {
        const m = model();
        const exits = noGrad(() => m.forwardExits(ids));
        const conf = exits.map((z) => {
          const p = F.softmax(z).f32;
          return [0, 1, 2, 3].map((b) => Math.max(...p.subarray(b * 3, b * 3 + 3)));
        });
        const threshold = [...conf[0]].sort()[2]; // the two most confident leave after layer 1
        const r = m.classifyEarlyExit(ids, { threshold });
        for (let b = 0; b < 4; b++) {
          let i = 0;
          while (i < 3 && conf[i][b] < threshold) i++;
          assert.equal(r.layersRun[b], i + 1, `example ${b}`);
          assertClose(
            r.logits.f32.subarray(b * 3, b * 3 + 3),
            exits[i].f32.subarray(b * 3, b * 3 + 3),
            1e-5,
            1e-5,
            `example ${b} logits`,
          );
          assert.equal(r.predictions[b], argmaxRows(exits[i])[b]);
        }
        assert.ok(
          new Set(r.layersRun).size > 1,
          'the test needs examples exiting at different layers',
        );
      });
    });
  }

  test('patience: exit once the prediction stayed the same for t layers', () => {
    const m = model();
    fixExits(m, [0, 1, 1, 1]); // max probability e/(e+2) = 0.58 < 0.9: confidence never exits
    // streak after layers 1..4: 0, 0, 1, 2
    assert.deepEqual(Array.from(m.classifyEarlyExit(ids, { patience: 1 }).layersRun), [3, 3, 3, 3]);
    assert.deepEqual(Array.from(m.classifyEarlyExit(ids, { patience: 2 }).layersRun), [4, 4, 4, 4]);
    const r = m.classifyEarlyExit(ids, { patience: 1, threshold: 0.9 });
    assert.deepEqual(Array.from(r.predictions), [1, 1, 1, 1]);
    fixExits(m, [2, 2, 2, 0]); // streak 0, 1, 2, 0
    assert.deepEqual(Array.from(m.classifyEarlyExit(ids, { patience: 1 }).layersRun), [2, 2, 2, 2]);
    assert.deepEqual(Array.from(m.classifyEarlyExit(ids, { patience: 2 }).layersRun), [3, 3, 3, 3]);
    assert.deepEqual(
      Array.from(m.classifyEarlyExit(ids, { patience: 3 }).predictions),
      [0, 0, 0, 0],
    );
    assert.throws(
      () => m.classifyEarlyExit(ids, { patience: 0 }),
      /patience must be an integer >= 1, got 0/,
    );
    assert.throws(
      () => m.classifyEarlyExit(ids, { threshold: -1 }),
      /threshold must be >= 0, got -1/,
    );
  });

  test('the training loss is the mean of the exits cross-entropies', () => {
    const m = model();
    const y = tensor(Int32Array.from([0, 2, 1, 2]), [4], 'int32');
    const loss = noGrad(() => m.trainingLoss(ids, y)).item();
    const each = noGrad(() => m.forwardExits(ids).map((z) => F.crossEntropy(z, y).item()));
    assert.ok(Math.abs(loss - each.reduce((a, b) => a + b) / 4) < 1e-5);
    // gradients reach every exit head
    m.trainingLoss(ids, y).backward();
    for (const h of m.exits.items) assert.ok(h.weight.grad!.f32.some((v) => v !== 0));
  });

  test('a model without exits refuses early-exit inference, naming the reason', () => {
    const m = model({ earlyExit: false });
    assert.equal(m.exits.length, 0);
    assert.throws(
      () => m.classifyEarlyExit(ids, { threshold: 0.9 }),
      /has no exit classifiers.*earlyExit false/,
    );
    assert.throws(
      () => model({ depth: 'universal:max-steps=2' }),
      (e: Error) => e instanceof ConfigError && /earlyExit needs depth 'fixed'/.test(e.message),
    );
    assert.throws(
      () => model({ earlyExit: 'yes' as unknown as boolean }),
      /earlyExit = "yes" is not allowed/,
    );
  });

  test('round trip through config.json and model.safetensors', () => {
    const m = model({}, 5);
    const dir = mkdtempSync(join(tmpdir(), 'tts-ee-'));
    try {
      const path = join(dir, 'model.safetensors');
      saveModel(m, path);
      const cfg = JSON.parse(JSON.stringify(m.config)) as EncoderClassifierConfig;
      assert.equal(cfg.earlyExit, true);
      const back = new EncoderClassifier(cfg, new Generator(99)).eval();
      loadModel(back, path);
      assert.ok([...back.stateDict().keys()].includes('exits.2.bias'));
      const a = m.classifyEarlyExit(ids, { threshold: 0.4 });
      const b = back.classifyEarlyExit(ids, { threshold: 0.4 });
      assert.deepEqual(b.layersRun, a.layersRun);
      assert.deepEqual(Array.from(b.logits.f32), Array.from(a.logits.f32));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
