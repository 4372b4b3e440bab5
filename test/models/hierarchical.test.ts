/**
 * Hierarchical classifier: one chunk and no high level is the flat model (same weights);
 * chunks are encoded alone; empty chunks change nothing; config checks; save/load.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noGrad } from '../../src/autograd.js';
import { setBackend } from '../../src/backend/index.js';
import { Generator } from '../../src/random.js';
import { tensor } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import { EncoderClassifier } from '../../src/models/classifier.js';
import {
  HierarchicalClassifier,
  type HierarchicalClassifierConfig,
} from '../../src/models/hierarchical.js';
import { ConfigError } from '../../src/models/config.js';
import { loadModel, saveModel } from '../../src/io/checkpoint.js';
import { assertClose, backends } from '../helpers.js';

const config: HierarchicalClassifierConfig = {
  vocabSize: 20,
  numClasses: 3,
  dModel: 16,
  nhead: 2,
  numLayers: 2,
  dimFeedforward: 32,
  dropout: 0,
  maxLen: 24,
  chunkLen: 4,
  numDocLayers: 1,
};
const model = (over: Partial<HierarchicalClassifierConfig> = {}, seed = 2) =>
  new HierarchicalClassifier({ ...config, ...over }, new Generator(seed)).eval();
const ids = (rows: number[][]) => tensor(rows, undefined, 'int32');

for (const backend of backends) {
  describe(`HierarchicalClassifier (${backend} backend)`, () => {
    test.beforeEach(() => setBackend(backend));

    for (const pooling of ['mean', 'cls'] as const) {
      test(`one chunk, no high level: the flat classifier under the same weights (${pooling})`, () => {
        const h = model({ numDocLayers: 0, chunkLen: 6, pooling });
        const { chunkLen: _c, numDocLayers: _n, ...flatConfig } = config;
        const flat = new EncoderClassifier({ ...flatConfig, pooling }, new Generator(9)).eval();
        flat.loadStateDict(h.stateDict());
        const x = ids([
          [1, 5, 6, 7, 8, 9],
          [1, 3, 4, 0, 0, 0],
        ]);
        noGrad(() =>
          assert.deepEqual(Array.from(h.forward(x).f32), Array.from(flat.forward(x).f32)),
        );
      });
    }

    test('each chunk is encoded alone', () => {
      const h = model();
      const doc = [1, 5, 6, 7, 8, 9, 10, 11, 12, 13];
      noGrad(() => {
        const { vectors, pad } = h.chunkVectors(ids([doc]));
        assert.deepEqual(Array.from(pad.data), [0, 0, 0]);
        for (let k = 0; k < 3; k++) {
          const alone = h.chunkVectors(ids([doc.slice(4 * k, 4 * k + 4)])).vectors;
          assertClose(F.slice(vectors, 1, k, k + 1).f32, alone.f32, 1e-6, 1e-5, `chunk ${k}`);
        }
      });
    });

    test('a short document gives the same logits alone and batched with a long one', () => {
      const h = model();
      const short = [1, 5, 6, 7, 8];
      const long = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14];
      noGrad(() => {
        const alone = h.forward(ids([short]));
        const batched = h.forward(
          ids([[...short, ...new Array(long.length - short.length).fill(0)], long]),
        );
        assertClose(F.slice(batched, 0, 0, 1).f32, alone.f32, 1e-5, 1e-4, 'logits');
      });
    });
  });
}

describe('HierarchicalClassifier', () => {
  test('trains end to end: gradients reach both levels', () => {
    const h = model();
    const loss = h.trainingLoss(
      ids([[1, 2, 3, 4, 5, 6, 7]]),
      tensor(Int32Array.from([2]), [1], 'int32'),
    );
    loss.backward();
    for (const n of [
      'encoder.layers.0.linear1.weight',
      'doc_encoder.layers.0.linear1.weight',
      'classifier.weight',
    ]) {
      const p = h.namedParameters().find(([k]) => k === n)![1];
      assert.ok(
        p.grad!.f32.some((v) => v !== 0),
        n,
      );
    }
  });

  test('config checks name the field', () => {
    for (const [over, re] of [
      [{ chunkLen: 0 }, /chunkLen = 0 is not allowed \(an integer in \[1, maxLen 24\]\)/],
      [{ chunkLen: 25 }, /chunkLen = 25 is not allowed/],
      [{ numDocLayers: -1 }, /numDocLayers = -1 is not allowed/],
      [{ earlyExit: true }, /earlyExit is not supported/],
      [{ dModel: 15 }, /dModel 15 must be divisible by nhead 2/],
    ] as [Partial<HierarchicalClassifierConfig>, RegExp][])
      assert.throws(
        () => model(over),
        (e: Error) => e instanceof ConfigError && re.test(e.message),
      );
  });

  test('round trip through config.json and model.safetensors', () => {
    const h = model({}, 4);
    const dir = mkdtempSync(join(tmpdir(), 'tts-hier-'));
    try {
      const path = join(dir, 'model.safetensors');
      saveModel(h, path);
      const cfg = JSON.parse(
        JSON.stringify(h.hierarchicalConfig()),
      ) as HierarchicalClassifierConfig;
      const back = new HierarchicalClassifier(cfg, new Generator(1)).eval();
      loadModel(back, path);
      const x = ids([[1, 2, 3, 4, 5, 6, 7, 8, 9]]);
      noGrad(() => assert.deepEqual(Array.from(back.forward(x).f32), Array.from(h.forward(x).f32)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
