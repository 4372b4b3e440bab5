/**
 * Position-based sparse attention (src/attention/sparse.ts and patterns/*): every pattern,
 * causal and not, equals the readable reference attention under the equivalent dense mask
 * (outputs and q/k/v gradients, with and without key padding) on every backend; the
 * patterns equal their papers' definitions written out here independently; cached decoding
 * equals uncached; a model saves and loads. The kernels against each other: sparse-kernels.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setBackend } from '../../src/backend/index.js';
import { noGrad } from '../../src/autograd.js';
import { Generator } from '../../src/random.js';
import { Tensor, randn, tensor, zeros } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import {
  SparsePatternCore,
  createAttentionCore,
  headsToBHLD,
  mergeHeads,
  describeAttentionVariants,
  parseAttentionSpec,
} from '../../src/attention/index.js';
import { DecoderLM } from '../../src/models/decoder-lm.js';
import { loadModel, saveModel } from '../../src/io/checkpoint.js';
import { backends, maxAbsDiff } from '../helpers.js';
import {
  C,
  D,
  H,
  assertOutAndGradClose,
  coreOutAndGrad,
  dims,
  input,
  maskOfCsr,
  padBias,
} from './helpers.js';
import { cachedLogits, decodeDiff, tinyLMConfig } from './xformer-helpers.js';

/** Small-parameter specs of every pattern variant. */
const SPECS = [
  'dilated:window=2,dilation=3',
  'random:keys=3,seed=5',
  'block:block=4',
  'global:global=2',
  'star',
  'longformer:window=2,dilation=3,global=1',
  'etc:window=2,global=2',
  'bigbird:block=2,global=1,random=1',
  'strided:stride=3',
  'fixed:stride=4,summary=2',
  'bp:k=1',
  'image-block:width=4,query-height=2,query-width=2,memory-height=1,memory-width=1',
  // Width 3 at T 13: a partial last grid row (the whole pattern; the split is tested below).
  'axial:width=3',
];

/** The papers' definitions, written independently: may query i attend key j (of L)? */
const paper: Record<string, (i: number, j: number, L: number) => boolean> = {
  // Child et al. 2019, Sec. 4.2: A1 = {max(0, i - l) .. i}, A2 = {(i - j) mod l = 0}, l = 3.
  'strided:stride=3': (i, j) => Math.abs(i - j) <= 3 || (i - j) % 3 === 0,
  // A1 = same block of l = 4, A2 = j mod l in {l - c .. l - 1}, c = 2.
  'fixed:stride=4,summary=2': (i, j) => Math.floor(i / 4) === Math.floor(j / 4) || j % 4 >= 2,
  'dilated:window=2,dilation=3': (i, j) => i === j || Math.abs(i - j) === 3,
  'block:block=4': (i, j) => Math.floor(i / 4) === Math.floor(j / 4),
  'global:global=2': (i, j) => i < 2 || j < 2 || i === j,
  star: (i, j) => Math.abs(i - j) <= 1 || i === 0 || j === 0,
  'longformer:window=2,dilation=3,global=1': (i, j) =>
    Math.abs(i - j) <= 1 || Math.abs(i - j) === 3 || i === 0 || j === 0,
  'etc:window=2,global=2': (i, j) => Math.abs(i - j) <= 1 || i < 2 || j < 2,
  // Axial over a width-3 grid: same row or same column.
  'axial:width=3': (i, j) => Math.floor(i / 3) === Math.floor(j / 3) || i % 3 === j % 3,
  // Image Transformer 2-D local: 2x2 query blocks, memory 1 row above/below, 1 column each side.
  'image-block:width=4,query-height=2,query-width=2,memory-height=1,memory-width=1': (i, j) => {
    const [ri, ci, rj, cj] = [Math.floor(i / 4), i % 4, Math.floor(j / 4), j % 4];
    const r0 = ri - (ri % 2);
    const c0 = ci - (ci % 2);
    return rj >= r0 - 1 && rj < r0 + 3 && cj >= c0 - 1 && cj < c0 + 3;
  },
};

for (const backendName of backends) {
  describe(`sparse pattern attention (${backendName} backend)`, () => {
    test.beforeEach(() => setBackend(backendName));
    const T = 13;
    const B = 2;
    for (const spec of SPECS)
      for (const causal of [false, true])
        test(`${spec} (${causal ? 'causal' : 'non-causal'}) equals the reference under its dense mask, with and without padding`, () => {
          const core = createAttentionCore(spec, dims) as SparsePatternCore;
          const ref = createAttentionCore('reference', dims);
          const qkv = randn([B, T, 3 * C], new Generator(spec.length * 7 + (causal ? 1 : 0)));
          const mask = maskOfCsr(core, T, causal); // dense, built here from the CSR
          for (const pad of [null, padBias(B, T, [0, 3])]) {
            const a = coreOutAndGrad(core, qkv, { causal, bias: pad });
            const b = coreOutAndGrad(ref, qkv, { bias: pad ? F.add(pad, mask) : mask });
            assertOutAndGradClose(a, b);
          }
        });

    test('dense weights for display equal the reference weights (zero outside the pattern)', () => {
      const core = createAttentionCore('strided:stride=3', dims) as SparsePatternCore;
      const ref = createAttentionCore('reference', dims);
      const qkv = randn([1, 9, 3 * C], new Generator(4));
      const a = noGrad(() => core.forward(input(qkv, { needWeights: true, causal: true })));
      const b = noGrad(() =>
        ref.forward(input(qkv, { needWeights: true, bias: maskOfCsr(core, 9, true) })),
      );
      assert.deepEqual(a.weights!.shape, [1, H, 9, 9]);
      assert.ok(maxAbsDiff(a.weights!.f32, b.weights!.f32) < 1e-6);
    });

    test('a bias that varies over queries runs densely and still equals the masked reference', () => {
      const core = createAttentionCore('axial:width=3', dims) as SparsePatternCore;
      const ref = createAttentionCore('reference', dims);
      const qkv = randn([1, 8, 3 * C], new Generator(5));
      const m = randn([8, 8], new Generator(6));
      const a = coreOutAndGrad(core, qkv, { bias: m });
      const b = coreOutAndGrad(ref, qkv, { bias: F.add(m, maskOfCsr(core, 8, false)) });
      assertOutAndGradClose(a, b);
    });

    test('dropout: out and gradients equal softmax-then-mask written with autograd ops, with the mask drawn per pattern entry (per part entry, part by part, for a split pattern)', () => {
      for (const spec of ['dilated:window=2,dilation=3', 'strided:stride=2']) {
        const core = createAttentionCore(spec, dims) as SparsePatternCore;
        const [B, T, p] = [2, 66, 0.4]; // strided splits from 32 * 2 positions
        // The op draws a (B*H, nnz) mask per part from the generator, in part order; each is
        // scattered to (B, H, T, T) here through its part's order.
        const parts = core.parts(T, false, false) ?? [
          { pattern: core.pattern(T, false), order: null },
        ];
        assert.equal(parts.length, spec.startsWith('strided') ? 2 : 1);
        const gen = new Generator(3);
        const dense = zeros([B, H, T, T]);
        for (const { pattern: pat, order } of parts) {
          const nnz = pat.rowPtr[T];
          const drawn = F.dropoutMask(B * H * nnz, p, gen);
          const pos = (x: number): number => (order ? order[x] : x);
          for (let b = 0; b < B * H; b++)
            for (let t = 0; t < T; t++)
              for (let e = pat.rowPtr[t]; e < pat.rowPtr[t + 1]; e++)
                dense.f32[(b * T + pos(t)) * T + pos(pat.cols[e])] = drawn[b * nnz + e];
        }
        const qkv0 = randn([B, T, 3 * C], new Generator(7));
        const a = coreOutAndGrad(core, qkv0, { dropoutP: p, generator: new Generator(3) });
        const qkv = new Tensor(qkv0.f32.slice(), qkv0.shape).requiresGrad_(true);
        const [q, k, v] = [0, 1, 2].map((i) => headsToBHLD({ x: qkv, col: i * C }, H, D));
        const scores = F.add(
          F.mul(F.matmul(q, k, { transB: true }), 1 / Math.sqrt(D)),
          maskOfCsr(core, T, false),
        );
        const out = mergeHeads(F.matmul(F.mul(F.softmax(scores, -1), dense), v)); // (B, T, C)
        F.sum(F.mul(out, randn(out.shape, new Generator(99)))).backward();
        assertOutAndGradClose(a, { out: out.f32, grad: qkv.grad!.f32 });
        assert.ok(
          maxAbsDiff(a.out, coreOutAndGrad(core, qkv0).out) > 1e-3,
          'dropout changed the output',
        );
      }
    });

    test('a learned relative bias (t5) gets its gradient through a sparse pattern; cached == uncached', () => {
      const cfg = {
        vocabSize: 11,
        blockSize: 16,
        dModel: C,
        nhead: H,
        numLayers: 1,
        dropout: 0,
        attention: 'bigbird:block=2,global=1,random=1',
        position: 't5:buckets=8,max-distance=16',
      };
      const lm = new DecoderLM(cfg, new Generator(12)).eval();
      const idx = tensor([[1, 5, 2, 8, 3, 9, 4, 10, 6]], undefined, 'int32');
      const logits = noGrad(() => lm.forward(idx));
      const steps = cachedLogits(lm, idx);
      assert.ok(maxAbsDiff(steps.f32, logits.f32) < 1e-5);
      F.sum(lm.forward(idx)).backward();
      const tables = [...lm.namedParameters()].filter(([n]) => /position\./.test(n));
      assert.ok(tables.length > 0);
      for (const [name, t] of tables)
        assert.ok(t.grad && t.grad.f32.some((x) => x !== 0), `${name} has a gradient`);
    });

    for (const spec of SPECS)
      test(`${spec}: cached decoding equals re-running the prefix (causal)`, () => {
        const diff = decodeDiff(spec, 12);
        assert.ok(diff < 1e-5, `${diff}`);
      });

    test('a strided-attention LM: cached == uncached, save and load keep the logits and the spec', () => {
      const cfg = tinyLMConfig('strided:stride=4');
      const lm = new DecoderLM(cfg, new Generator(12)).eval();
      assert.equal(lm.config.attention, 'strided:stride=4');
      const idx = tensor([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 2]], undefined, 'int32');
      const logits = noGrad(() => lm.forward(idx));
      const caches = lm.newCaches();
      const steps = noGrad(() => [
        lm.forward(F.slice(idx, 1, 0, 5), caches, 0),
        ...[5, 6, 7, 8, 9, 10, 11].map((t) => lm.forward(F.slice(idx, 1, t, t + 1), caches, t)),
      ]);
      assert.ok(maxAbsDiff(F.concat(steps, 1).f32, logits.f32) < 1e-5);
      const path = join(mkdtempSync(join(tmpdir(), 'sparse-')), 'm.safetensors');
      saveModel(lm, path);
      const lm2 = new DecoderLM(cfg, new Generator(99)).eval();
      loadModel(lm2, path);
      assert.ok(maxAbsDiff(noGrad(() => lm2.forward(idx)).f32, logits.f32) < 1e-6);
      // The pattern matters: the same weights under full attention give other logits.
      const lmFull = new DecoderLM({ ...cfg, attention: 'full' }, new Generator(12)).eval();
      assert.ok(maxAbsDiff(noGrad(() => lmFull.forward(idx)).f32, logits.f32) > 1e-4);
    });
  });
}

describe('sparse patterns equal their papers', () => {
  const L = 20;
  for (const [spec, allowed] of Object.entries(paper))
    for (const causal of [false, true])
      test(`${spec} (${causal ? 'causal' : 'non-causal'}) is the paper's pattern`, () => {
        const core = createAttentionCore(spec, dims) as SparsePatternCore;
        const got = maskOfCsr(core, L, causal).f32;
        for (let i = 0; i < L; i++)
          for (let j = 0; j < L; j++) {
            const want = allowed(i, j, L) && (!causal || j <= i);
            assert.equal(got[i * L + j] === 0, want, `query ${i}, key ${j}`);
          }
      });

  test('BigBird (blocks of 2, 1 global block, 1 random block): its three components', () => {
    const core = createAttentionCore(
      'bigbird:block=2,global=1,random=1',
      dims,
    ) as SparsePatternCore;
    const L = 16;
    const nb = L / 2;
    const m = maskOfCsr(core, L, false).f32;
    const blockRow = (qb: number): Set<number> => {
      const set = new Set<number>();
      for (let kb = 0; kb < nb; kb++) {
        for (let r = 0; r < 2; r++)
          for (let c = 0; c < 2; c++) {
            const ok = m[(qb * 2 + r) * L + kb * 2 + c] === 0;
            // Whole blocks: every query of a block sees the same key blocks, every key of it.
            assert.equal(ok, m[qb * 2 * L + kb * 2] === 0, `block (${qb}, ${kb}) is whole`);
          }
        if (m[qb * 2 * L + kb * 2] === 0) set.add(kb);
      }
      return set;
    };
    assert.equal(blockRow(0).size, nb, 'the global block attends every block');
    for (let qb = 1; qb < nb; qb++) {
      const s = blockRow(qb);
      const fixed = new Set([0, qb - 1, qb, qb + 1].filter((b) => b < nb));
      for (const b of fixed) assert.ok(s.has(b), `block ${qb}: window/global block ${b}`);
      const extra = [...s].filter((b) => !fixed.has(b));
      assert.equal(extra.length, Math.min(1, nb - fixed.size), `block ${qb}: one random block`);
    }
  });

  test('random: r distinct keys per query, seeded, causal rows draw among keys <= i', () => {
    const a = createAttentionCore('random:keys=3,seed=5', dims) as SparsePatternCore;
    const b = createAttentionCore('random:keys=3,seed=5', dims) as SparsePatternCore;
    const c = createAttentionCore('random:keys=3,seed=6', dims) as SparsePatternCore;
    const p = a.pattern(30, false);
    for (let t = 0; t < 30; t++) assert.equal(p.rowPtr[t + 1] - p.rowPtr[t], 3);
    assert.deepEqual([...p.cols], [...b.pattern(30, false).cols]);
    assert.notDeepEqual([...p.cols], [...c.pattern(30, false).cols]);
    assert.equal(b.pattern(30, false), p, 'cores of one spec (the layers) share the pattern');
    const q = a.pattern(30, true);
    for (let t = 0; t < 30; t++) {
      assert.equal(q.rowPtr[t + 1] - q.rowPtr[t], Math.min(3, t + 1));
      for (let e = q.rowPtr[t]; e < q.rowPtr[t + 1]; e++) assert.ok(q.cols[e] <= t);
    }
    // Causal rows do not depend on the length (decoding relies on it).
    const r = a.pattern(20, true);
    assert.deepEqual([...r.cols], [...q.cols.subarray(0, r.cols.length)]);
  });

  test('bp: O(k log L) keys per query, the band of k at level 0, spans farther out', () => {
    const core = createAttentionCore('bp:k=2', dims) as SparsePatternCore;
    const p = core.pattern(64, false);
    const row = (t: number): number[] => [...p.cols.subarray(p.rowPtr[t], p.rowPtr[t + 1])];
    // Level l contributes the first tokens of spans u + 1, u + 2 of size 2^l: 2^l and 2^(l+1).
    assert.deepEqual(row(0), [0, 1, 2, 4, 8, 16, 32]);
    // Query 21: level 0 band 19..23; level 1 spans 10 +- 1, 2 -> 16, 18, 22, 24; level 2 (u 5)
    // -> 12, 16, 24, 28; level 3 (u 2) -> 0, 8, 24, 32; level 4 (u 1) -> 0, 32, 48; level 5 -> 32.
    assert.deepEqual(row(21), [0, 8, 12, 16, 18, 19, 20, 21, 22, 23, 24, 28, 32, 48]);
    for (let t = 0; t < 64; t++) assert.ok(row(t).length <= 1 + 4 * 6);
  });

  test('the registry lists every pattern; bad parameters are refused naming them', () => {
    const names = describeAttentionVariants().map((l) => l.split(/[: ]/)[0]);
    for (const n of ['dilated', 'random', 'block', 'global', 'star', 'longformer', 'etc'])
      assert.ok(names.includes(n), n);
    for (const n of ['bigbird', 'strided', 'fixed', 'bp', 'image-block', 'axial'])
      assert.ok(names.includes(n), n);
    assert.deepEqual(parseAttentionSpec('bigbird').params, {
      block: 64,
      global: 2,
      random: 3,
      seed: 0,
    });
    assert.throws(() => createAttentionCore('fixed:stride=4,summary=5', dims), /summary=5/);
    assert.throws(() => parseAttentionSpec('strided:stride=0'), /stride=0 must be >= 1/);
    const core = createAttentionCore('star', dims);
    const x = randn([1, 4, C], new Generator(1));
    const y = randn([1, 5, C], new Generator(1));
    assert.throws(
      () => core.forward({ ...input(x), k: { x: y, col: 0 }, v: { x: y, col: 0 } }),
      /self-attention \(T = S\), got 4 queries and 5 keys/,
    );
  });
});
