/**
 * The Universal Transformer's depth (Dehghani et al. 2019) with ACT (Graves 2016), on every
 * backend: without ACT it is the shared-weight stack (plus the coordinate signal, written
 * out by hand here); with ACT the output is the halting-weighted sum of the step states,
 * the weights of every position sum to 1, the ponder cost has the finite-difference
 * gradient, cached decoding equals the full pass, and the `depth` config field selects it,
 * validates it and round-trips through config.json + model.safetensors.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setBackend } from '../../src/backend/index.js';
import { noGrad } from '../../src/autograd.js';
import { Generator } from '../../src/random.js';
import { Tensor, randn, tensor } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import { FixedDepth, auxiliaryLosses, withAuxiliaryLosses } from '../../src/nn/stack.js';
import { UniversalDepth } from '../../src/nn/universal.js';
import { createDepth, formatDepthSpec } from '../../src/nn/depth-registry.js';
import { TransformerEncoder, makeEncoderLayers } from '../../src/nn/transformer.js';
import { DecoderLM, type DecoderLMConfig } from '../../src/models/decoder-lm.js';
import { Seq2SeqTransformer } from '../../src/models/seq2seq.js';
import { EncoderClassifier } from '../../src/models/classifier.js';
import { ConfigError } from '../../src/models/config.js';
import { loadModel, saveModel } from '../../src/io/checkpoint.js';
import { backends, gradcheck, maxAbsDiff } from '../helpers.js';

const C = 8;
const opts = { dimFeedforward: 16, dropout: 0, generator: new Generator(3) };
const ids = (rows: number[][]): Tensor => tensor(rows, undefined, 'int32');

/** The coordinate signal written out (Eq. 5): sin/cos of position (offset + i) plus of step t. */
function signalByHand(L: number, t: number, offset: number): Tensor {
  const s = new Float32Array(L * C);
  const at = (pos: number, k: number): number => {
    const angle = pos / Math.pow(10000, (k - (k % 2)) / C);
    return k % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
  };
  for (let i = 0; i < L; i++)
    for (let k = 0; k < C; k++) s[i * C + k] = at(offset + i, k) + at(t, k);
  return new Tensor(s, [1, L, C]);
}

/** An ACT strategy whose halting unit is re-drawn so that positions halt at different steps. */
function spreadHalting(ut: UniversalDepth, seed: number, scale = 1.5): void {
  const w = randn([1, C], new Generator(seed));
  ut.halting!.weight.f32.set(w.f32.map((v) => v * scale));
  ut.halting!.bias!.f32[0] = 0;
}

for (const name of backends) {
  describe(`universal depth [${name}]`, () => {
    test('ACT off, no signal: N steps equal the fixed stack of N references to the shared layer', () => {
      setBackend(name);
      const [layer] = makeEncoderLayers(1, C, 2, opts);
      const ut = new UniversalDepth(C, { maxSteps: 3, signal: false });
      const enc = new TransformerEncoder([layer], null, ut);
      const shared = new TransformerEncoder([layer, layer, layer], null, new FixedDepth());
      const x = randn([2, 5, C], new Generator(4));
      const got = noGrad(() => enc.forward(x, { isCausal: true }));
      const want = noGrad(() => shared.forward(x, { isCausal: true }));
      assert.ok(maxAbsDiff(got.f32, want.f32) < 1e-6, `diff ${maxAbsDiff(got.f32, want.f32)}`);
      const once = noGrad(() => layer.forward(x, { isCausal: true }));
      assert.ok(maxAbsDiff(got.f32, once.f32) > 1e-3, 'three steps differ from one');
      assert.equal(ut.auxiliaryLoss(), null, 'no ponder cost without ACT');
    });

    test('ACT off, with the signal: each step adds position + step sinusoids (by hand), at an offset', () => {
      setBackend(name);
      const layers = makeEncoderLayers(2, C, 2, opts); // a block of two layers, shared over steps
      const enc = new TransformerEncoder(layers, null, new UniversalDepth(C, { maxSteps: 3 }));
      const x = randn([2, 4, C], new Generator(5));
      const got = noGrad(() => enc.forward(x, {}, undefined, 3));
      const want = noGrad(() => {
        let h = x;
        for (let t = 0; t < 3; t++) {
          h = F.add(h, signalByHand(4, t, 3));
          for (const l of layers) h = l.forward(h);
        }
        return h;
      });
      assert.ok(maxAbsDiff(got.f32, want.f32) < 1e-5, `diff ${maxAbsDiff(got.f32, want.f32)}`);
    });

    test('ACT: output is the halting-weighted sum of step states; weights per position sum to 1', () => {
      setBackend(name);
      const [layer] = makeEncoderLayers(1, C, 2, opts);
      const T = 5;
      const ut = new UniversalDepth(C, { maxSteps: T, act: true, tau: 0.5, epsilon: 0.05 });
      spreadHalting(ut, 11);
      const enc = new TransformerEncoder([layer], null, ut);
      const [B, L] = [2, 6];
      const x = randn([B, L, C], new Generator(6));
      const got = noGrad(() => enc.forward(x));
      // The reference: the halting rule of Graves (2016), Sec. 2, in plain loops.
      const want = new Float32Array(B * L * C);
      const acc = new Float64Array(B * L);
      const done = new Uint8Array(B * L);
      const N = new Float64Array(B * L);
      const R = new Float64Array(B * L);
      const weightSums = new Float64Array(B * L);
      noGrad(() => {
        let h = x;
        for (let t = 0; t < T; t++) {
          const input = F.add(h, signalByHand(L, t, 0));
          const z = F.linear(input, ut.halting!.weight, ut.halting!.bias).f32; // (B, L, 1)
          const next = layer.forward(input);
          for (let i = 0; i < B * L; i++) {
            if (done[i]) continue;
            const p = 1 / (1 + Math.exp(-z[i]));
            N[i]++;
            let w: number;
            if (t < T - 1 && acc[i] + p <= 1 - 0.05) [w, acc[i]] = [p, acc[i] + p];
            else [w, R[i], done[i]] = [1 - acc[i], 1 - acc[i], 1];
            weightSums[i] += w;
            for (let k = 0; k < C; k++) want[i * C + k] += w * next.f32[i * C + k];
          }
          h = next;
        }
      });
      assert.ok(maxAbsDiff(got.f32, want) < 1e-5, `diff ${maxAbsDiff(got.f32, want)}`);
      assert.deepEqual([...ut.lastSteps!], [...N]);
      assert.ok(new Set(N).size > 1, `positions halt at different steps: ${[...N]}`);
      const sums = new Float64Array(B * L);
      for (const w of ut.lastWeights) w.forEach((v, i) => (sums[i] += v));
      for (let i = 0; i < B * L; i++) assert.ok(Math.abs(sums[i] - 1) < 1e-6, `position ${i}`);
      const ponder = (0.5 * N.reduce((s, n, i) => s + n + R[i], 0)) / (B * L);
      assert.ok(Math.abs(ut.auxiliaryLoss()!.item() - ponder) < 1e-5);
      // With padding, the ponder cost averages over the real positions only.
      const padded = [4, 5, 11]; // (b, l) = (0, 4), (0, 5), (1, 5)
      const mask = tensor(
        [
          [0, 0, 0, 0, 1, 1],
          [0, 0, 0, 0, 0, 1],
        ],
        undefined,
        'bool',
      );
      noGrad(() => enc.forward(x, { srcKeyPaddingMask: mask }));
      const steps = ut.lastSteps!;
      let cost = 0;
      for (let i = 0; i < B * L; i++)
        if (!padded.includes(i)) cost += steps[i] + ut.lastWeights[steps[i] - 1][i]; // N + R
      const want2 = (0.5 * cost) / (B * L - padded.length);
      assert.ok(Math.abs(ut.auxiliaryLoss()!.item() - want2) < 1e-5, 'ponder over real positions');
    });

    test('ACT: the ponder cost has the finite-difference gradient w.r.t. the halting unit', () => {
      setBackend(name);
      const [layer] = makeEncoderLayers(1, C, 2, opts);
      const ut = new UniversalDepth(C, { maxSteps: 4, act: true, tau: 1 });
      spreadHalting(ut, 12, 0.3);
      ut.halting!.bias!.f32[0] = -0.5; // p near 0.4: positions halt at step 2 or 3, no tie near the threshold
      const enc = new TransformerEncoder([layer], null, ut);
      const x = randn([1, 5, C], new Generator(7));
      const fixedOut = randn([1, 5, C], new Generator(8));
      // The ponder cost alone, and the ponder cost plus a weighted output (the path through w).
      gradcheck(
        () => {
          enc.forward(x);
          return F.reshape(ut.auxiliaryLoss()!, [1]);
        },
        [ut.halting!.weight, ut.halting!.bias!],
        { eps: 1e-2, atol: 2e-3, rtol: 2e-2 },
      );
      gradcheck(
        () => F.reshape(F.add(F.sum(F.mul(enc.forward(x), fixedOut)), ut.auxiliaryLoss()!), [1]),
        [ut.halting!.weight, ut.halting!.bias!],
        { eps: 1e-2, atol: 5e-3, rtol: 2e-2 },
      );
    });

    test('cached decoding equals the full pass for a causal UT LM, with and without ACT', () => {
      setBackend(name);
      for (const depth of ['universal:max-steps=3', 'universal:max-steps=4,act=true,epsilon=0.1']) {
        const lm = new DecoderLM(
          { vocabSize: 13, blockSize: 12, dModel: C, nhead: 2, numLayers: 1, dropout: 0, depth },
          new Generator(9),
        ).eval();
        const ut = lm.blocks.depth as UniversalDepth;
        if (ut.act) {
          // Halting read from sin(position) (the signal's first coordinate): p from 0.05 to 0.95.
          ut.halting!.weight.f32.fill(0);
          ut.halting!.weight.f32[0] = 3;
          ut.halting!.bias!.f32[0] = 0;
        }
        const seq = [1, 5, 2, 7, 3, 9, 4, 11];
        const full = noGrad(() => lm.forward(ids([seq])));
        if (ut.act) assert.ok(new Set(ut.lastSteps).size > 1, 'halting varies by position');
        const caches = lm.newCaches();
        assert.equal(caches.length, ut.maxSteps, 'one decoding state per application');
        const parts = [noGrad(() => lm.forward(ids([seq.slice(0, 3)]), caches, 0))];
        for (let t = 3; t < seq.length; t++)
          parts.push(noGrad(() => lm.forward(ids([[seq[t]]]), caches, t)));
        const inc = F.concat(parts, 1);
        assert.ok(
          maxAbsDiff(inc.f32, full.f32) < 1e-4,
          `${depth}: ${maxAbsDiff(inc.f32, full.f32)}`,
        );
      }
    });
  });
}

describe('depth config', () => {
  const base: DecoderLMConfig = {
    vocabSize: 11,
    blockSize: 8,
    dModel: C,
    nhead: 2,
    numLayers: 1,
    dropout: 0,
  };

  test('fixed is the default and adds no parameters; universal+ACT adds the halting unit', () => {
    const plain = new DecoderLM(base, new Generator(1));
    assert.equal(plain.config.depth, 'fixed');
    assert.ok(plain.blocks.depth instanceof FixedDepth);
    const same = new DecoderLM({ ...base, depth: 'fixed' }, new Generator(1));
    const x = ids([[1, 2, 3]]);
    assert.deepEqual(noGrad(() => plain.forward(x)).f32, noGrad(() => same.forward(x)).f32);
    const ut = new DecoderLM(
      { ...base, depth: 'universal:act=true,max-steps=2' },
      new Generator(1),
    );
    assert.equal(
      ut.config.depth,
      'universal:max-steps=2,act=true,tau=0.01,epsilon=0.01,signal=true',
    );
    const extra = [...ut.stateDict().keys()].filter((k) => !plain.stateDict().has(k));
    assert.deepEqual(extra, ['blocks.depth.halting.weight', 'blocks.depth.halting.bias']);
    assert.equal(
      formatDepthSpec('universal'),
      'universal:max-steps=8,act=false,tau=0.01,epsilon=0.01,signal=true',
    );
  });

  test('bad depth specs are refused naming the field and the value', () => {
    for (const [depth, why] of [
      ['deep', /depth = 'deep'.*unknown variant 'deep' \(known: fixed, universal/],
      ['universal:steps=3', /unknown parameter 'steps'/],
      ['universal:max-steps=0', /max-steps=0 must be >= 1/],
      ['universal:epsilon=1', /epsilon=1 must be in \(0, 1\)/],
      ['universal:act=yes', /act=yes must be true or false/],
    ] as const) {
      assert.throws(
        () => new DecoderLM({ ...base, depth }),
        (e: Error) => e instanceof ConfigError && why.test(e.message),
        depth,
      );
    }
    assert.throws(() => new DecoderLM({ ...base, depth: 3 as unknown as string }), /depth = 3/);
  });

  test('a UT model round-trips through config.json and model.safetensors (same logits)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ut-'));
    const config = { ...base, depth: 'universal:max-steps=3,act=true' };
    const a = new DecoderLM(config, new Generator(2)).eval();
    spreadHalting(a.blocks.depth as UniversalDepth, 14);
    saveModel(a, join(dir, 'model.safetensors'));
    const b = new DecoderLM(JSON.parse(JSON.stringify(config)), new Generator(99)).eval();
    loadModel(b, join(dir, 'model.safetensors'));
    const x = ids([[1, 4, 2, 9, 3]]);
    assert.deepEqual(noGrad(() => b.forward(x)).f32, noGrad(() => a.forward(x)).f32);
    // The classifier's and the seq2seq model's encoder and decoder each get a strategy.
    const cls = new EncoderClassifier(
      {
        vocabSize: 11,
        numClasses: 3,
        dModel: C,
        nhead: 2,
        numLayers: 1,
        depth: 'universal:max-steps=2',
      },
      new Generator(3),
    );
    assert.ok(cls.encoder.depth instanceof UniversalDepth);
    const s2s = new Seq2SeqTransformer(
      {
        srcVocabSize: 9,
        tgtVocabSize: 10,
        dModel: C,
        nhead: 2,
        numEncoderLayers: 1,
        numDecoderLayers: 1,
        dimFeedforward: 16,
        depth: 'universal:max-steps=2,act=true',
      },
      new Generator(4),
    );
    const keys = [...s2s.stateDict().keys()].filter((k) => k.includes('.depth.'));
    assert.deepEqual(keys, [
      'transformer.encoder.depth.halting.weight',
      'transformer.encoder.depth.halting.bias',
      'transformer.decoder.depth.halting.weight',
      'transformer.decoder.depth.halting.bias',
    ]);
  });

  test("the training loss gets every stack's ponder cost (encoder + decoder)", () => {
    const s2s = new Seq2SeqTransformer(
      {
        srcVocabSize: 9,
        tgtVocabSize: 10,
        dModel: C,
        nhead: 2,
        numEncoderLayers: 1,
        numDecoderLayers: 1,
        dimFeedforward: 16,
        dropout: 0,
        depth: 'universal:max-steps=3,act=true,tau=0.1',
      },
      new Generator(5),
    );
    const logits = s2s.forward(ids([[1, 2, 3]]), ids([[1, 4, 5, 6]]));
    const task = F.mean(logits);
    const enc = s2s.transformer.encoder.depth.auxiliaryLoss()!.item();
    const dec = s2s.transformer.decoder.depth.auxiliaryLoss()!.item();
    assert.ok(enc >= 0.1 && dec >= 0.1, 'tau * (N + R) >= tau');
    assert.ok(Math.abs(auxiliaryLosses(s2s)!.item() - (enc + dec)) < 1e-6);
    const total = withAuxiliaryLosses(s2s, task);
    assert.ok(Math.abs(total.item() - (task.item() + enc + dec)) < 1e-5);
    total.backward();
    const g = (s2s.transformer.decoder.depth as UniversalDepth).halting!.bias!.grad;
    assert.ok(g && Math.abs(g.f32[0]) > 0, 'the ponder cost reaches the halting unit');
    const plain = new DecoderLM(base, new Generator(1));
    plain.forward(ids([[1, 2]]));
    assert.equal(auxiliaryLosses(plain), null);
    assert.ok(createDepth('fixed', C) instanceof FixedDepth);
  });
});
