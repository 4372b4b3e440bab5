/**
 * Linearized attention (`linear`, `performer`) on every backend: the chunked causal form, the
 * recurrent form (one token at a time through the state) and the quadratic form written here
 * (phi(Q) phi(K)^T masked and normalized) agree; decoding equals re-running the prefix;
 * padded keys count for nothing; Performer approaches softmax attention as its features grow;
 * gradients equal finite differences; models save and load.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setBackend } from '../../src/backend/index.js';
import { noGrad } from '../../src/autograd.js';
import { Generator } from '../../src/random.js';
import { Tensor, tensor, zeros } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import {
  createAttentionCore,
  headsToBHLD,
  mergeHeads,
  type AttentionCore,
  type CoreInput,
} from '../../src/attention/index.js';
import type { LinearizedCore, LinearState } from '../../src/attention/linear-state.js';
import { PerformerAttention } from '../../src/attention/performer.js';
import { MultiheadAttention } from '../../src/nn/attention.js';
import { DecoderLM } from '../../src/models/decoder-lm.js';
import { Seq2SeqTransformer } from '../../src/models/seq2seq.js';
import { AdamW } from '../../src/train/optim.js';
import { backends, maxAbsDiff } from '../helpers.js';
import { C, D, H, coreOut, gradcheckCore, packedInput, padBias, randomQKV } from './helpers.js';
import { classifierRoundTrip, decodeInSteps, lmRoundTrip } from './xformer-helpers.js';

/** Core dims with a fresh generator: every core built from them draws the same features. */
const dims = (): { numHeads: number; headDim: number; generator: Generator } => ({
  numHeads: H,
  headDim: D,
  generator: new Generator(3),
});

/**
 * The quadratic form: out_i = sum_j a_ij v_j / sum_j a_ij with a = phi(Q) phi(K)^T, keys
 * j > i dropped when causal and padded keys (keep 0) dropped always; (B, T, C).
 */
function quadratic(core: LinearizedCore, qkv: Tensor, causal: boolean, keep?: Tensor): Tensor {
  return noGrad(() => {
    const inp = packedInput(qkv, C);
    const q = headsToBHLD(inp.q, H, D);
    const k = headsToBHLD(inp.k, H, D);
    const v = headsToBHLD(inp.v, H, D);
    const a = F.matmul(core.featureMap(q, true, causal), core.featureMap(k, false, causal), {
      transB: true,
    }); // (B, H, T, S)
    const [, , T, S] = a.shape;
    const mask = zeros([T, S]);
    for (let i = 0; i < T; i++) for (let j = 0; j < S; j++) mask.f32[i * S + j] = j <= i ? 1 : 0;
    let w = causal ? F.mul(a, mask) : a;
    if (keep) w = F.mul(w, keep); // (B, 1, 1, S)
    const out = F.div(F.matmul(w, v), F.sum(w, -1, true)); // (B, H, T, D)
    return mergeHeads(out);
  });
}

/** The core run one position at a time through its state: the recurrent form (B, T, C). */
function recurrent(core: AttentionCore<LinearState>, qkv: Tensor): Tensor {
  const state = core.newState();
  const T = qkv.shape[1];
  const steps = noGrad(() =>
    Array.from(
      { length: T },
      (_, t) =>
        core.forward(packedInput(F.slice(qkv, 1, t, t + 1), C, { causal: true, offset: t }), state)
          .out,
    ),
  );
  assert.equal(state.length, T);
  return F.concat(steps, 1);
}

/** `spec` with one more `key=value`. */
function withParam(spec: string, kv: string): string {
  return `${spec}${spec.includes(':') ? ',' : ':'}${kv}`;
}

const specs = ['linear', 'performer:features=16,redraw=0'];

for (const backendName of backends) {
  describe(`linearized attention (${backendName} backend)`, () => {
    test.beforeEach(() => setBackend(backendName));

    for (const spec of specs) {
      test(`${spec}: chunked causal form == recurrent form == quadratic form (1e-5)`, () => {
        const qkv = randomQKV(2, 10, C, 4, 0.7);
        const quad = quadratic(createAttentionCore(spec, dims()) as LinearizedCore, qkv, true);
        for (const chunk of [1, 3, 4, 10, 64]) {
          const core = createAttentionCore(withParam(spec, `chunk=${chunk}`), dims());
          const out = coreOut(core, qkv, C, { causal: true });
          assert.ok(maxAbsDiff(out.f32, quad.f32) < 1e-5, `chunk ${chunk}`);
        }
        const rec = recurrent(createAttentionCore(spec, dims()) as LinearizedCore, qkv);
        assert.ok(
          maxAbsDiff(rec.f32, quad.f32) < 1e-5,
          `recurrent ${maxAbsDiff(rec.f32, quad.f32)}`,
        );
        // The causal mask matters: the non-causal output differs.
        const nc = coreOut(createAttentionCore(spec, dims()), qkv, C);
        assert.ok(maxAbsDiff(nc.f32, quad.f32) > 1e-3, 'non-causal differs from causal');
      });

      test(`${spec}: non-causal form == quadratic form; padded keys count for nothing`, () => {
        const core = createAttentionCore(spec, dims()) as LinearizedCore;
        const B = 2;
        const T = 7;
        const qkv = randomQKV(B, T, C, 5, 0.7);
        const out = coreOut(core, qkv, C);
        assert.ok(
          maxAbsDiff(out.f32, quadratic(core, qkv, false).f32) < 1e-5,
          'non-causal vs quadratic',
        );
        const bias = padBias(B, T, [0, 3]);
        const keep = F.reshape(F.exp(bias), [B, 1, 1, T]); // 1 kept, 0 padded
        const padded = coreOut(core, qkv, C, { bias });
        assert.ok(
          maxAbsDiff(padded.f32, quadratic(core, qkv, false, keep).f32) < 1e-5,
          'padded vs quadratic',
        );
        // Row 1 over its first 4 keys only equals the same row with the padded keys cut off.
        const row1 = F.slice(qkv, 0, 1, 2);
        const cut = F.concat(
          [0, 1, 2].map((i) => F.slice(F.slice(row1, 2, i * C, (i + 1) * C), 1, 0, 4)),
          2,
        ); // (1, 4, 3C): q, k, v of the kept positions
        const inp: CoreInput = {
          ...packedInput(cut, C),
          q: { x: F.slice(row1, 2, 0, C), col: 0 }, // every query, the kept keys
        };
        const short = noGrad(() => core.forward(inp).out);
        assert.ok(
          maxAbsDiff(F.slice(padded, 0, 1, 2).f32, short.f32) < 1e-5,
          'padded row vs cut keys',
        );
        assert.throws(
          () => coreOut(core, qkv, C, { bias: zeros([T, T]) }),
          /only a key padding mask/,
        );
      });

      test(`${spec}: decoding with the recurrent state equals re-running the prefix (MultiheadAttention)`, () => {
        const mha = new MultiheadAttention(C, H, {
          kind: 'self',
          attention: spec,
          generator: new Generator(5),
        }).eval();
        const L = 9;
        const xs = F.slice(randomQKV(2, L, C, 6), 2, 0, C); // (2, L, C)
        const full = noGrad(() => mha.forward(xs, xs, xs, { isCausal: true }).out);
        const state = mha.newState() as LinearState;
        const steps = decodeInSteps(mha, xs, state);
        assert.equal(state.length, L);
        assert.deepEqual(state.s!.shape, [2, H, spec === 'linear' ? D : 16, D]);
        assert.ok(maxAbsDiff(steps.f32, full.f32) < 1e-5, 'decoded vs re-run');
        // Beam search's reorder: rows [1, 1, 0] of the state continue as those rows would.
        state.selectRows([1, 1, 0]);
        const xn = F.slice(randomQKV(2, 1, C, 7), 2, 0, C); // (2, 1, C)
        const pick = (t: Tensor): Tensor =>
          F.concat([F.slice(t, 0, 1, 2), F.slice(t, 0, 1, 2), F.slice(t, 0, 0, 1)], 0);
        const next = noGrad(() =>
          mha.forward(pick(xn), pick(xn), pick(xn), { isCausal: true }, state),
        );
        const whole = F.concat([xs, xn], 1); // (2, L + 1, C)
        const ref = noGrad(() => mha.forward(whole, whole, whole, { isCausal: true }).out);
        assert.ok(
          maxAbsDiff(next.out.f32, pick(F.slice(ref, 1, L, L + 1)).f32) < 1e-5,
          'reordered state vs re-run',
        );
      });

      test(`${spec}: gradients equal finite differences (causal chunked and non-causal)`, () => {
        const core = createAttentionCore(withParam(spec, 'chunk=2'), dims());
        gradcheckCore(core, randomQKV(1, 5, C, 8, 0.5), C, { causal: true });
        gradcheckCore(core, randomQKV(2, 4, C, 9, 0.5), C, { bias: padBias(2, 4, [0, 1]) });
      });
    }

    test('performer approaches softmax attention as the features grow (5 seeds)', () => {
      const qkv = randomQKV(1, 16, C, 10, 0.6);
      const exact = coreOut(createAttentionCore('reference', dims()), qkv, C);
      const exactCausal = coreOut(createAttentionCore('reference', dims()), qkv, C, {
        causal: true,
      });
      const meanErr = (M: number, causal: boolean): number => {
        let e = 0;
        for (let seed = 0; seed < 5; seed++) {
          const core = new PerformerAttention({ ...dims(), generator: new Generator(seed) }, M, 0);
          const out = coreOut(core, qkv, C, { causal });
          const ref = causal ? exactCausal : exact;
          let s = 0;
          for (let i = 0; i < out.size; i++) s += Math.abs(out.f32[i] - ref.f32[i]);
          e += s / out.size;
        }
        return e / 5;
      };
      for (const causal of [false, true]) {
        const e64 = meanErr(64, causal);
        const e1024 = meanErr(1024, causal);
        assert.ok(e1024 < 0.5 * e64, `causal ${causal}: err(1024) ${e1024} vs err(64) ${e64}`);
        assert.ok(e1024 < 0.05, `err(1024) ${e1024}`);
      }
    });
  });
}

describe('performer random features', () => {
  test('the default feature count is floor(D ln D) (performer-pytorch); features=M overrides', () => {
    for (const [Dh, M] of [
      [32, 110],
      [64, 266],
      [1, 1],
    ]) {
      const core = createAttentionCore('performer', {
        numHeads: 2,
        headDim: Dh,
        generator: new Generator(1),
      }) as PerformerAttention;
      assert.equal(core.numFeatures, M, `D ${Dh}`);
      assert.deepEqual(core.projection.shape, [M, Dh]);
    }
    const core = createAttentionCore('performer:features=24', dims()) as PerformerAttention;
    assert.deepEqual(core.projection.shape, [24, D]);
    assert.throws(() => createAttentionCore('performer:features=-1', dims()), /features/);
  });

  test('orthogonal blocks with chi-distributed norms; redrawn every `redraw` training calls', () => {
    const Dh = 8;
    const core = new PerformerAttention(
      { numHeads: 1, headDim: Dh, generator: new Generator(1) },
      20,
      2,
    );
    const w = core.projection.f32;
    const dot = (i: number, j: number): number => {
      let s = 0;
      for (let c = 0; c < Dh; c++) s += w[i * Dh + c] * w[j * Dh + c];
      return s;
    };
    for (const [i, j] of [
      [0, 1],
      [3, 7],
      [8, 15],
      [16, 19],
    ])
      assert.ok(Math.abs(dot(i, j)) < 1e-4, `rows ${i}, ${j} orthogonal`);
    assert.ok(Math.abs(dot(0, 8)) > 1e-3, 'different blocks are independent');
    let meanSq = 0;
    for (let i = 0; i < 20; i++) meanSq += dot(i, i) / 20;
    assert.ok(meanSq > 3 && meanSq < 16, `E|w|^2 = D: ${meanSq}`);
    assert.ok(core.stateDict().has('projection_matrix'));
    assert.equal(core.numParameters(), 0, 'a buffer, not a parameter');
    const before = w.slice();
    const qkv = randomQKV(1, 3, Dh, 2);
    const call = (): void => void core.forward(packedInput(qkv, Dh));
    core.train();
    call();
    call();
    assert.deepEqual(w, before, 'two calls, no redraw yet');
    call();
    assert.ok(maxAbsDiff(w, before) > 1e-3, 'redrawn at the third call');
    const frozen = new PerformerAttention({ numHeads: 1, headDim: Dh }, 20, 0).train();
    const f0 = frozen.projection.f32.slice();
    for (let i = 0; i < 5; i++) frozen.forward(packedInput(qkv, Dh));
    assert.deepEqual(frozen.projection.f32, f0);
  });

  test('the redraw clock is saved: a core restored from a state dict redraws as the uninterrupted one', () => {
    const Dh = 4;
    const qkv = randomQKV(1, 3, Dh, 2);
    const make = (seed: number): PerformerAttention =>
      new PerformerAttention(
        { numHeads: 1, headDim: Dh, generator: new Generator(seed) },
        8,
        2,
      ).train();
    const run = make(3);
    for (let i = 0; i < 3; i++) run.forward(packedInput(qkv, Dh)); // redrawn once, at call 3
    const saved = run.stateDict();
    assert.equal(saved.get('redraw_state')?.f32[0], 3, 'three calls on the clock');
    const restored = make(99); // another seed: everything must come from the state dict
    restored.loadStateDict(saved);
    assert.deepEqual(restored.projection.f32, run.projection.f32);
    for (let i = 0; i < 4; i++) {
      run.forward(packedInput(qkv, Dh));
      restored.forward(packedInput(qkv, Dh)); // redraws at calls 5 and 7 in both
      assert.deepEqual(restored.projection.f32, run.projection.f32, `after call ${4 + i}`);
    }
    const fresh = make(3); // the clock, not the call history, decides the draw
    fresh.redrawState.f32[0] = 6;
    fresh.redrawFeatures();
    assert.deepEqual(fresh.projection.f32, run.projection.f32, 'draw 3 of the same seed');
  });

  test('linear and performer models save, load and give the same logits', () => {
    for (const spec of ['linear:chunk=4', 'performer:features=8,chunk=4']) {
      lmRoundTrip(spec);
      classifierRoundTrip(spec);
    }
  });
});

describe('linearized attention in training', () => {
  test('a linear-attention LM learns (loss falls over AdamW steps); performer redraws inside it', () => {
    const idx = tensor([[1, 2, 3, 4, 5, 6, 7, 8]], undefined, 'int32');
    const targets = tensor([[2, 3, 4, 5, 6, 7, 8, 9]], undefined, 'int32');
    for (const spec of ['linear:chunk=3', 'performer:features=8,redraw=2,chunk=3']) {
      const lm = new DecoderLM(
        {
          vocabSize: 11,
          blockSize: 8,
          dModel: C,
          nhead: H,
          numLayers: 1,
          dropout: 0,
          attention: spec,
        },
        new Generator(4),
      );
      const opt = new AdamW(lm.parameters(), { lr: 3e-2 });
      const losses: number[] = [];
      for (let step = 0; step < 6; step++) {
        opt.zeroGrad();
        const loss = F.crossEntropy(F.reshape(lm.forward(idx), [-1, 11]), F.reshape(targets, [-1]));
        loss.backward();
        opt.step();
        losses.push(loss.item());
      }
      assert.ok(losses.every(Number.isFinite), `${spec}: finite losses ${losses.join(', ')}`);
      assert.ok(losses[5] < losses[0] - 0.1, `${spec}: loss falls ${losses.join(', ')}`);
      const core = lm.blocks.layers.items[0].selfAttn.core;
      if (core instanceof PerformerAttention)
        assert.equal(core.numParameters(), 0, 'the features are not trained');
    }
  });

  test('an encoder-decoder runs linear attention in both stacks (padding, causal decoder)', () => {
    const m = new Seq2SeqTransformer(
      {
        srcVocabSize: 9,
        tgtVocabSize: 9,
        dModel: C,
        nhead: H,
        numEncoderLayers: 1,
        numDecoderLayers: 1,
        dimFeedforward: 16,
        dropout: 0,
        attention: 'linear',
      },
      new Generator(5),
    ).eval();
    const src = tensor(
      [
        [3, 4, 5, 0],
        [6, 7, 0, 0],
      ],
      undefined,
      'int32',
    );
    const tgt = tensor(
      [
        [1, 2, 3],
        [1, 4, 0],
      ],
      undefined,
      'int32',
    );
    const out = noGrad(() => m.forward(src, tgt));
    assert.deepEqual(out.shape, [2, 3, 9]);
    assert.ok(out.f32.every(Number.isFinite));
  });
});
