/**
 * Conditional computation over sub-layers (after Bapna et al. 2020), on every backend: all
 * gates forced open is the vanilla stack bit for bit; gates forced closed skip exactly those
 * sub-layers (they are not run, and the output is the reduced stack written by hand); soft
 * training gates and the budget loss equal their formulas and have the finite-difference
 * gradient; hard inference gates decode incrementally as in the full pass; the config
 * selects, validates and round-trips it.
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
import { ConditionalDepth } from '../../src/nn/conditional.js';
import {
  TransformerEncoder,
  makeEncoderLayers,
  type TransformerEncoderLayer,
} from '../../src/nn/transformer.js';
import { DecoderLM } from '../../src/models/decoder-lm.js';
import { Seq2SeqTransformer, type Seq2SeqConfig } from '../../src/models/seq2seq.js';
import { ConfigError } from '../../src/models/config.js';
import { loadModel, saveModel } from '../../src/io/checkpoint.js';
import { backends, gradcheck, maxAbsDiff } from '../helpers.js';

const C = 8;
const ids = (rows: number[][]): Tensor => tensor(rows, undefined, 'int32');
const s2s: Seq2SeqConfig = {
  srcVocabSize: 9,
  tgtVocabSize: 10,
  dModel: C,
  nhead: 2,
  numEncoderLayers: 2,
  numDecoderLayers: 2,
  dimFeedforward: 16,
  dropout: 0,
};

/** Pre-LN blocks written out: attention block and FFN block of an encoder layer. */
const attnBlock = (l: TransformerEncoderLayer, x: Tensor): Tensor => {
  const y = l.norm1.forward(x);
  return F.add(x, l.selfAttn.forward(y, y, y, {}).out);
};
const ffnBlock = (l: TransformerEncoderLayer, x: Tensor): Tensor =>
  F.add(x, l.linear2.forward(F.gelu(l.linear1.forward(l.norm2.forward(x)))));

for (const name of backends) {
  describe(`conditional computation [${name}]`, () => {
    test('all gates forced open equal the vanilla model bit for bit', () => {
      setBackend(name);
      const cct = new Seq2SeqTransformer({ ...s2s, depth: 'conditional' }, new Generator(1));
      const plain = new Seq2SeqTransformer(s2s, new Generator(2));
      const sd = new Map([...cct.stateDict()].filter(([k]) => !k.includes('.depth.')));
      plain.loadStateDict(sd);
      for (const s of [cct.transformer.encoder.depth, cct.transformer.decoder.depth])
        (s as ConditionalDepth).force = () => 'open';
      const src = ids([
        [3, 4, 5],
        [6, 7, 0],
      ]);
      const tgt = ids([
        [1, 2, 3, 4],
        [1, 5, 0, 0],
      ]);
      assert.deepEqual(cct.forward(src, tgt).f32, plain.forward(src, tgt).f32); // training mode
      assert.equal(cct.transformer.encoder.depth.auxiliaryLoss(), null, 'no gate decided');
    });

    test('gates forced closed skip exactly those sub-layers: the reduced stack, not run', () => {
      setBackend(name);
      const opts = { dimFeedforward: 16, dropout: 0, normFirst: true, activation: 'gelu' as const };
      const layers = makeEncoderLayers(2, C, 2, { ...opts, generator: new Generator(3) });
      const depth = new ConditionalDepth(C, { layers: 2, sublayers: 2 });
      depth.force = (i, k) => ((i === 0 && k === 1) || (i === 1 && k === 0) ? 'closed' : 'open');
      const enc = new TransformerEncoder(layers, null, depth);
      const runs = [0, 0];
      layers.forEach((l, i) => {
        const ff = l.linear1.forward.bind(l.linear1);
        l.linear1.forward = (x: Tensor) => (runs[i]++, ff(x));
      });
      const x = randn([2, 5, C], new Generator(4));
      const got = noGrad(() => enc.forward(x));
      assert.deepEqual(runs, [0, 1], "layer 0's FFN is not run");
      assert.equal(depth.lastSkipped, 2);
      // The reduced stack: layer 0 = attention only, layer 1 = FFN only.
      const want = noGrad(() => ffnBlock(layers[1], attnBlock(layers[0], x)));
      assert.ok(maxAbsDiff(got.f32, want.f32) < 1e-6, `${maxAbsDiff(got.f32, want.f32)}`);
    });

    test('training: soft gates and the budget loss equal their formulas; gradient by finite differences', () => {
      setBackend(name);
      const opts = { dimFeedforward: 16, dropout: 0, normFirst: true, activation: 'gelu' as const };
      const [layer] = makeEncoderLayers(1, C, 2, { ...opts, generator: new Generator(5) });
      const depth = new ConditionalDepth(C, {
        layers: 1,
        sublayers: 2,
        noise: 0,
        budget: 0.3,
        weight: 2,
      });
      const enc = new TransformerEncoder([layer], null, depth);
      const x = randn([2, 3, C], new Generator(6));
      const pad = tensor(
        [
          [0, 0, 0],
          [0, 0, 1],
        ],
        undefined,
        'bool',
      );
      const got = noGrad(() => enc.forward(x, { srcKeyPaddingMask: pad }));
      const [u0, u1] = depth.gates.items[0].items;
      const gated = (a: Tensor, g: Tensor, block: Tensor): Tensor =>
        F.add(a, F.mul(F.sub(block, a), g));
      const { want, gates } = noGrad(() => {
        const g0 = F.sigmoid(u0.forward(x)); // (B, L, 1)
        const y = layer.norm1.forward(x);
        const a = gated(
          x,
          g0,
          F.add(x, layer.selfAttn.forward(y, y, y, { keyPaddingMask: pad }).out),
        );
        const g1 = F.sigmoid(u1.forward(a));
        return { want: gated(a, g1, ffnBlock(layer, a)), gates: [g0, g1] };
      });
      assert.ok(maxAbsDiff(got.f32, want.f32) < 1e-5, `${maxAbsDiff(got.f32, want.f32)}`);
      const real = [0, 1, 2, 3, 4]; // position 5 is padding
      const mean = gates.reduce((s, g) => s + real.reduce((t, p) => t + g.f32[p], 0), 0) / 10;
      assert.ok(Math.abs(depth.auxiliaryLoss()!.item() - 2 * Math.abs(mean - 0.3)) < 1e-5);
      const w = randn([2, 3, C], new Generator(7));
      gradcheck(
        () => {
          const out = enc.forward(x, { srcKeyPaddingMask: pad });
          return F.reshape(F.add(F.sum(F.mul(out, w)), depth.auxiliaryLoss()!), [1]);
        },
        [u0.weight, u0.bias!, u1.weight, u1.bias!],
        { eps: 1e-2, atol: 3e-3, rtol: 2e-2 },
      );
    });

    test('hard gates at inference: cached decoding equals the full pass (closed self-attention still caches)', () => {
      setBackend(name);
      const lm = new DecoderLM(
        {
          vocabSize: 13,
          blockSize: 12,
          dModel: C,
          nhead: 2,
          numLayers: 2,
          dropout: 0,
          depth: 'conditional',
        },
        new Generator(8),
      ).eval();
      const depth = lm.blocks.depth as ConditionalDepth;
      for (const row of depth.gates.items)
        for (const u of row.items) {
          u.weight.f32.set(
            randn([1, C], new Generator(u.weight.f32.length + 9)).f32.map((v) => 3 * v),
          );
          u.bias!.f32[0] = 0;
        }
      const seq = [1, 5, 2, 7, 3, 9, 4, 11];
      const full = noGrad(() => lm.forward(ids([seq])));
      assert.ok(
        depth.lastOpenShare > 0 && depth.lastOpenShare < 1,
        `mixed gates: ${depth.lastOpenShare}`,
      );
      const caches = lm.newCaches();
      const parts = seq.map((tok, t) => noGrad(() => lm.forward(ids([[tok]]), caches, t)));
      const inc = F.concat(parts, 1);
      assert.ok(maxAbsDiff(inc.f32, full.f32) < 1e-4, `${maxAbsDiff(inc.f32, full.f32)}`);
    });
  });
}

describe('conditional depth config', () => {
  test('state-dict names, round-trip, refusals', () => {
    const config: Seq2SeqConfig = { ...s2s, depth: 'conditional:budget=0.25' };
    const a = new Seq2SeqTransformer(config, new Generator(10)).eval();
    assert.equal(a.config.depth, 'conditional:budget=0.25,weight=0.1,noise=1');
    const keys = [...a.stateDict().keys()].filter((k) => k.includes('.depth.'));
    assert.equal(keys.length, 2 * 2 * 2 + 2 * 3 * 2, 'a unit (weight, bias) per sub-layer');
    assert.ok(keys.includes('transformer.decoder.depth.gates.1.2.bias'));
    const dir = mkdtempSync(join(tmpdir(), 'cct-'));
    saveModel(a, join(dir, 'model.safetensors'));
    const b = new Seq2SeqTransformer(JSON.parse(JSON.stringify(config)), new Generator(11)).eval();
    loadModel(b, join(dir, 'model.safetensors'));
    const src = ids([[3, 4, 5]]);
    const tgt = ids([[1, 2, 3]]);
    assert.deepEqual(noGrad(() => b.forward(src, tgt)).f32, noGrad(() => a.forward(src, tgt)).f32);
    assert.throws(
      () => new Seq2SeqTransformer({ ...s2s, depth: 'conditional:budget=2' }),
      (e: Error) => e instanceof ConfigError && /budget=2 must be in \[0, 1\]/.test(e.message),
    );
  });
});
