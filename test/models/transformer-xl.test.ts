/**
 * The Transformer-XL LM: segment recurrence with memory equals one pass over the
 * concatenated segments with XL's attention span; M = 0 is the segment alone; generation
 * with memory; config and save/load.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noGrad } from '../../src/autograd.js';
import { setBackend } from '../../src/backend/index.js';
import { Generator } from '../../src/random.js';
import { tensor, zeros, type Tensor } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import {
  TransformerXL,
  generateXL,
  segmentLoss,
  type TransformerXLConfig,
} from '../../src/models/transformer-xl.js';
import { ConfigError } from '../../src/models/config.js';
import { loadModel, saveModel } from '../../src/io/checkpoint.js';
import { assertClose, backends } from '../helpers.js';

const L = 3; // segment length
const config: TransformerXLConfig = {
  vocabSize: 13,
  blockSize: L,
  dModel: 16,
  nhead: 2,
  numLayers: 2,
  dimFeedforward: 32,
  dropout: 0,
  memLen: L,
};
const text = [1, 4, 7, 2, 9, 11, 3, 5, 8, 12, 6, 10, 0, 2, 4, 6];

function model(over: Partial<TransformerXLConfig> = {}, seed = 3): TransformerXL {
  return new TransformerXL({ ...config, ...over }, new Generator(seed)).eval();
}

/** Segments of the text: (2, L) ids for segment s (two rows: the text and its reverse). */
function segment(s: number): Tensor {
  const a = text.slice(s * L, (s + 1) * L);
  const b = [...text].reverse().slice(s * L, (s + 1) * L);
  return tensor([a, b], undefined, 'int32');
}

/**
 * XL's span over n concatenated segments (memory M = L): a query in segment s attends the
 * keys of segments s - 1 and s up to itself. (P, P) bool, true = not allowed.
 */
function spanMask(n: number): Tensor {
  const P = n * L;
  const m = zeros([P, P], 'bool');
  for (let p = 0; p < P; p++)
    for (let j = 0; j < P; j++)
      m.data[p * P + j] = j < (Math.floor(p / L) - 1) * L || j > p ? 1 : 0;
  return m;
}

for (const backend of backends) {
  describe(`TransformerXL (${backend} backend)`, () => {
    test.beforeEach(() => setBackend(backend));

    test('cached-memory evaluation of segments equals one pass with the same span', () => {
      const m = model();
      noGrad(() => {
        const memory = m.newMemory();
        const parts = [0, 1, 2, 3].map((s) => m.forward(segment(s), memory)); // (2, L, V) each
        const whole = m.forward(F.concat([0, 1, 2, 3].map(segment), 1), undefined, spanMask(4));
        assertClose(F.concat(parts, 1).f32, whole.f32, 1e-5, 1e-4, 'logits');
        // the memory changes the result: segment 1 alone differs
        const alone = m.forward(segment(1));
        assert.ok(
          F.slice(whole, 1, L, 2 * L).f32.some((x, i) => Math.abs(x - alone.f32[i]) > 1e-3),
        );
      });
    });

    test('memory length 0: each segment as if alone', () => {
      const m = model({ memLen: 0 });
      noGrad(() => {
        const memory = m.newMemory();
        for (let s = 0; s < 3; s++)
          assertClose(
            m.forward(segment(s), memory).f32,
            m.forward(segment(s)).f32,
            1e-6,
            1e-6,
            `segment ${s}`,
          );
      });
    });
  });
}

describe('TransformerXL', () => {
  test('segmentLoss: with memory is the loss of the one-pass span, without the per-segment loss', () => {
    const m = model();
    const ids = text.slice(0, 3 * L + 1);
    const V = config.vocabSize;
    const lossOf = (logits: Tensor): number =>
      F.crossEntropy(
        F.reshape(logits, [3 * L, V]),
        tensor(Int32Array.from(ids.slice(1)), [3 * L]),
      ).item();
    const x = tensor([ids.slice(0, 3 * L)], undefined, 'int32');
    const withMem = noGrad(() => lossOf(m.forward(x, undefined, spanMask(3))));
    const r = segmentLoss(m, ids, L, { memory: true });
    assert.equal(r.tokens, 3 * L);
    assert.ok(Math.abs(r.loss - withMem) < 1e-5, `${r.loss} vs ${withMem}`);
    const r0 = segmentLoss(m, ids, L, { memory: false });
    const perSeg = noGrad(() => lossOf(m.forward(x, undefined, blockDiag(3))));
    assert.ok(Math.abs(r0.loss - perSeg) < 1e-5, `${r0.loss} vs ${perSeg}`);
    assert.throws(() => segmentLoss(m, [1, 2], L, { memory: true }), /segLen 3 needs/);
  });

  test('greedy generation with a memory holding everything equals re-running the whole sequence', () => {
    const m = model({ memLen: 32 });
    const prompt = [1, 4, 7, 2];
    const got = generateXL(m, prompt, { maxNewTokens: 6, temperature: 0 });
    const seq = [...prompt];
    noGrad(() => {
      for (let i = 0; i < 6; i++) {
        const y = m.forward(tensor([seq], undefined, 'int32'));
        const row = Array.from(y.f32.subarray((seq.length - 1) * 13, seq.length * 13));
        seq.push(row.indexOf(Math.max(...row)));
      }
    });
    assert.deepEqual(got, seq.slice(prompt.length));
    assert.throws(
      () => generateXL(m, [], { maxNewTokens: 1 }),
      /prompt must contain at least one token/,
    );
    // Suppressed ids are never generated: all but 5 suppressed, greedy and sampled.
    const suppressIds = Array.from({ length: 13 }, (_, i) => i).filter((i) => i !== 5);
    for (const temperature of [0, 1])
      assert.deepEqual(
        generateXL(m, prompt, { maxNewTokens: 4, temperature, suppressIds }),
        [5, 5, 5, 5],
      );
  });

  test('config: memLen validated, attention refused; round trip through config.json and safetensors', () => {
    assert.throws(
      () => model({ memLen: -1 }),
      (e: Error) => e instanceof ConfigError && /memLen = -1 is not allowed/.test(e.message),
    );
    assert.throws(
      () => model({ attention: 'local:window=4' }),
      /attention = 'local:window=4' is not allowed/,
    );
    assert.equal(model({ memLen: undefined }).config.memLen, L);
    const m = model({}, 7);
    const dir = mkdtempSync(join(tmpdir(), 'tts-xl-'));
    try {
      const path = join(dir, 'model.safetensors');
      saveModel(m, path);
      const cfg = JSON.parse(JSON.stringify(m.config)) as TransformerXLConfig;
      const back = new TransformerXL(cfg, new Generator(1)).eval();
      loadModel(back, path);
      const names = [...back.stateDict().keys()];
      for (const n of ['r_w_bias', 'r_r_bias', 'r_net.weight'])
        assert.ok(names.includes(`blocks.layers.1.self_attn.core.${n}`), n);
      const run = (x: TransformerXL) =>
        noGrad(() => {
          const mem = x.newMemory();
          return [0, 1, 2].map((s) => Array.from(x.forward(segment(s), mem).f32));
        });
      assert.deepEqual(run(back), run(m));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Each segment alone: (P, P) bool, true where the key is in another segment or later. */
function blockDiag(n: number): Tensor {
  const P = n * L;
  const m = zeros([P, P], 'bool');
  for (let p = 0; p < P; p++)
    for (let j = 0; j < P; j++)
      m.data[p * P + j] = Math.floor(j / L) !== Math.floor(p / L) || j > p ? 1 : 0;
  return m;
}
