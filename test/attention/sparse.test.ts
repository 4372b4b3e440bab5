/**
 * Position-based sparse attention (src/attention/sparse.ts and patterns/*): every pattern,
 * causal and not, equals the readable reference attention under the equivalent dense mask
 * (outputs and q/k/v gradients, with and without key padding) on every backend; the
 * patterns equal their papers' definitions written out here independently; cached decoding
 * equals uncached; a model saves and loads; the js and native kernels agree.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setBackend, type Backend } from '../../src/backend/index.js';
import { jsBackend as js } from '../../src/backend/js.js';
import { loadNativeBackend } from '../../src/backend/native.js';
import { noGrad } from '../../src/autograd.js';
import { Generator } from '../../src/random.js';
import { Tensor, randn, rand, tensor, zeros } from '../../src/tensor.js';
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

/**
 * Both kernels of one backend on a packed (B, L, 3 nh d) q/k/v buffer and the pattern `rows`
 * (the keys of each query), with a per-key bias and (unless `dropout` is false) a dropout mask.
 */
function kernels(
  be: Backend,
  nh: number,
  d: number,
  B: number,
  S: number,
  rows: number[][],
  poison?: { key: number; part: 'k' | 'v' } | null,
  delta = false,
  dropout = true,
) {
  const T = rows.length;
  const c = nh * d;
  const g = { BH: B * nh, T, S, D: d, H: nh, ldq: 3 * c, ldk: 3 * c, ldv: 3 * c, ldo: c };
  const geom = { ...g, kvRows: S, scale: 0.4, maskStrideB: S };
  const rowPtr = new Int32Array(T + 1);
  rows.forEach((r, t) => (rowPtr[t + 1] = rowPtr[t] + r.length));
  const cols = Int32Array.from(rows.flat());
  const nnz = cols.length;
  const gen = new Generator(3);
  const q = randn([B * Math.max(T, S) * 3 * c], gen).f32;
  const [k, v] = [q.subarray(c), q.subarray(2 * c)];
  // A NaN in one head's key or value row of the last batch row (NaN for NaN with js).
  if (poison) q[((B - 1) * S + poison.key) * 3 * c + (poison.part === 'k' ? c : 2 * c) + 1] = NaN;
  const bias = randn([B * nh * S], gen).f32;
  bias[3] = -Infinity; // a forbidden key
  const keep = Float32Array.from(rand([B * nh * nnz], gen).f32, (u) => (u < 0.3 ? 0 : 1 / 0.7));
  const drop = dropout ? keep : null;
  const dout = randn([B * T * c], gen).f32;
  const out = new Float32Array(B * T * c);
  const w = new Float32Array(B * nh * nnz);
  const lse = new Float32Array(B * nh * T).fill(7); // every element written
  be.sparseAttentionForward(out, w, q, k, v, rowPtr, cols, bias, drop, geom, lse);
  const dqkv = new Float32Array(q.length).fill(0.5); // accumulates onto what is there
  const [dk, dv] = [dqkv.subarray(c), dqkv.subarray(2 * c)];
  // A caller's Delta per row (in place of sum(dP P)) when asked: any values will do here.
  const deltas = delta ? randn([B * nh * T], new Generator(8)).f32 : null;
  be.sparseAttentionBackward(dqkv, dk, dv, dout, q, k, v, rowPtr, cols, w, drop, geom, deltas);
  return { out, w, lse, dqkv, q, bias, rowPtr, cols, geom };
}

describe('sparse attention kernels: native equals js', () => {
  const loaded = loadNativeBackend();
  const native: Backend | null = 'backend' in loaded ? loaded.backend : null;
  const cases: [string, number, number, number, number, number[][]][] = [
    // Rows: some empty, one with the forbidden key; sorted distinct columns.
    [
      'small, empty rows',
      H,
      D,
      2,
      9,
      [[0, 3], [], [1, 2, 5, 8], [4], [0, 1, 2, 3, 4, 5, 6, 7, 8], [], [7, 8]],
    ],
    // Big enough for the pool to split 3 slices over 2 threads (a chunk starts mid-batch).
    [
      'pool-sized, 3 heads',
      3,
      8,
      1,
      64,
      Array.from({ length: 64 }, (_, t) =>
        Array.from({ length: 64 }, (_, j) => j).filter((j) => (j * 7 + t * 3) % 5 < 3),
      ),
    ],
    // Runs of rows with equal keys take the GEMM path of the native kernel.
    [
      'runs of rows sharing their keys',
      H,
      D,
      2,
      9,
      [
        [0, 2, 5],
        [0, 2, 5],
        [0, 2, 5],
        [1],
        [],
        [],
        [3, 4, 6, 7, 8],
        [3, 4, 6, 7, 8],
        [3, 4, 6, 7, 8],
        [3, 4, 6, 7, 8],
      ],
    ],
    // Rows extending the previous row's keys (causal blocks) form runs too.
    [
      'runs of rows extending their keys',
      H,
      D,
      2,
      9,
      [[1], [1, 2], [1, 2, 3], [0], [0, 4], [0, 4, 5, 8], [], [6]],
    ],
    [
      'pool-sized block pattern, 3 heads',
      3,
      8,
      1,
      64,
      Array.from({ length: 64 }, (_, t) =>
        [0, ...Array.from({ length: 8 }, (_, j) => (t & ~7) + j)].filter(
          (j, x, a) => a.indexOf(j) === x,
        ),
      ),
    ],
  ];
  // Rows that are not runs take the masked-block path (blocks of 32 rows): keys attended by
  // >= 1/4 of a block's rows by GEMMs, the others entry by entry; random rows share no key.
  const L = 96;
  const band = (t: number, w: number): number[] =>
    Array.from({ length: 2 * w + 1 }, (_, j) => t - w + j).filter((j) => j >= 0 && j < L);
  const strided = (t: number): number[] =>
    [
      ...new Set([...band(t, 6), ...Array.from({ length: L / 16 }, (_, j) => (t % 16) + 16 * j)]),
    ].sort((x, y) => x - y);
  const random = (t: number): number[] =>
    [...new Set(Array.from({ length: 4 }, (_, j) => (t * 37 + j * 53 + ((t * j) % 7)) % L))].sort(
      (x, y) => x - y,
    );
  const span = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, j) => a + j);
  // Runs whose key lists are equal but not adjacent in row order (an image block's grid
  // rows): the kernel gathers their keys once and sums their dk, dv before one scatter.
  const keysA = [...Array.from({ length: 12 }, (_, j) => j), 30, 31, 32, 33, 34, 35];
  const keysB = Array.from({ length: 16 }, (_, j) => 5 + j);
  cases.push(
    [
      'runs with equal key lists, apart in row order',
      2,
      8,
      2,
      48,
      Array.from({ length: 48 }, (_, t) => (Math.floor(t / 2) % 2 === 0 ? keysA : keysB)),
    ],
    // Runs whose keys are a few ranges of >= 32 consecutive keys read them in place (no
    // gather; dk, dv added in place): two ranges, one range, and causal runs extending theirs.
    [
      'runs reading long key ranges in place',
      2,
      8,
      2,
      160,
      Array.from({ length: 48 }, (_, t) =>
        t < 16
          ? [...span(0, 40), ...span(80, 120)]
          : t < 32
            ? span(40, 120)
            : span(60, 93 + (t - 32)),
      ),
    ],
    [
      'masked blocks: a band of 13 keys, shared but at block edges',
      2,
      8,
      2,
      L,
      Array.from({ length: L }, (_, t) => band(t, 6)),
    ],
    // A band block takes the band path (each row's segment softmaxed in place of its scores)
    // with empty rows among its rows too.
    [
      'masked blocks: a band with empty rows',
      2,
      8,
      2,
      L,
      Array.from({ length: L }, (_, t) => (t % 5 === 2 ? [] : band(t, 6))),
    ],
    [
      'masked blocks: a band and strided far keys (unshared)',
      2,
      8,
      2,
      L,
      Array.from({ length: L }, (_, t) => strided(t)),
    ],
    // Dilated keys: shared, at consecutive positions of the block's keys but not consecutive
    // keys (segments by position); empty rows inside the blocks; one far key each.
    [
      'masked blocks: dilated keys, empty rows, a far key',
      2,
      8,
      2,
      L,
      Array.from({ length: L }, (_, t) =>
        t % 7 === 3
          ? []
          : [
              ...new Set([
                ...Array.from({ length: 7 }, (_, j) => t - 6 + 2 * j).filter(
                  (j) => j >= 0 && j < L,
                ),
                (t * 5 + 40) % L,
              ]),
            ].sort((x, y) => x - y),
      ),
    ],
    [
      'masked blocks: random keys, none shared (row by row)',
      2,
      8,
      2,
      L,
      Array.from({ length: L }, (_, t) => random(t)),
    ],
  );
  for (const [what, nh, d, B, S, rows] of cases)
    test(
      `forward and backward (${what}) with bias, with and without dropout; row log-sum-exps; a given Delta`,
      { skip: !native },
      () => {
        const a = kernels(js, nh, d, B, S, rows);
        const b = kernels(native!, nh, d, B, S, rows);
        assert.ok(a.out.some((x) => x !== 0));
        assert.ok(maxAbsDiff(a.out, b.out) < 1e-5, `out ${maxAbsDiff(a.out, b.out)}`);
        assert.ok(maxAbsDiff(a.w, b.w) < 1e-6, `weights ${maxAbsDiff(a.w, b.w)}`);
        assert.ok(maxAbsDiff(a.dqkv, b.dqkv) < 1e-5, `grads ${maxAbsDiff(a.dqkv, b.dqkv)}`);
        // lse: log sum exp of the row's scores (float64 here), -Infinity for an empty row.
        const c = nh * d;
        for (let bh = 0; bh < B * nh; bh++)
          for (let t = 0; t < rows.length; t++) {
            const [n, h] = [Math.floor(bh / nh), bh % nh];
            let sum = 0;
            for (const s of rows[t]) {
              let dot = 0;
              for (let x = 0; x < d; x++)
                dot +=
                  a.q[(n * rows.length + t) * 3 * c + h * d + x] *
                  a.q[(n * S + s) * 3 * c + c + h * d + x];
              sum += Math.exp(dot * 0.4 + a.bias[bh * S + s]);
            }
            const want = Math.log(sum);
            for (const got of [a.lse[bh * rows.length + t], b.lse[bh * rows.length + t]])
              assert.ok(
                want === -Infinity ? got === -Infinity : Math.abs(got - want) < 1e-4,
                `lse ${bh}, ${t}: ${got} vs ${want}`,
              );
          }
        const x = kernels(js, nh, d, B, S, rows, null, true);
        const y = kernels(native!, nh, d, B, S, rows, null, true);
        assert.ok(maxAbsDiff(x.dqkv, a.dqkv) > 1e-3, 'the given Delta changed the gradients');
        assert.ok(
          maxAbsDiff(x.dqkv, y.dqkv) < 1e-5,
          `grads with Delta ${maxAbsDiff(x.dqkv, y.dqkv)}`,
        );
        // Without dropout the native run path reads P from its own copy of the weights.
        const e = kernels(js, nh, d, B, S, rows, null, false, false);
        const f = kernels(native!, nh, d, B, S, rows, null, false, false);
        assert.ok(maxAbsDiff(e.dqkv, a.dqkv) > 1e-3, 'dropout changed the gradients');
        assert.ok(maxAbsDiff(e.out, f.out) < 1e-5, `out, no dropout ${maxAbsDiff(e.out, f.out)}`);
        assert.ok(
          maxAbsDiff(e.dqkv, f.dqkv) < 1e-5,
          `grads, no dropout ${maxAbsDiff(e.dqkv, f.dqkv)}`,
        );
      },
    );

  for (const part of ['k', 'v'] as const)
    test(
      `masked blocks: a NaN in a ${part} row spreads exactly as in js (row by row)`,
      { skip: !native },
      () => {
        const rows = Array.from({ length: L }, (_, t) => band(t, 6));
        const a = kernels(js, 2, 8, 2, L, rows, { key: 40, part });
        const b = kernels(native!, 2, 8, 2, L, rows, { key: 40, part });
        const same = (x: Float32Array, y: Float32Array, tol: number): boolean =>
          x.every((xi, i) => (Number.isNaN(xi) ? Number.isNaN(y[i]) : Math.abs(xi - y[i]) < tol));
        const nan = (x: Float32Array): number => x.filter(Number.isNaN).length;
        assert.ok(nan(part === 'v' ? a.out : a.dqkv) > 0, 'the NaN reaches the outputs');
        assert.ok(same(a.out, b.out, 1e-5), `out: ${nan(a.out)} vs ${nan(b.out)} NaN`);
        assert.ok(same(a.w, b.w, 1e-6), 'weights');
        assert.ok(same(a.dqkv, b.dqkv, 1e-5), `grads: ${nan(a.dqkv)} vs ${nan(b.dqkv)} NaN`);
      },
    );

  test('a bad pattern throws instead of reading out of bounds', { skip: !native }, () => {
    const { q, rowPtr, cols, geom } = kernels(js, H, D, 1, 4, [
      [0, 1],
      [2, 3],
    ]);
    const bad = Int32Array.from(cols, (c, i) => (i === 2 ? 4 : c));
    const call = (rp: Int32Array, cs: Int32Array): void =>
      native!.sparseAttentionForward(
        new Float32Array(64),
        new Float32Array(64),
        q,
        q,
        q,
        rp,
        cs,
        null,
        null,
        geom,
      );
    assert.doesNotThrow(() => call(rowPtr, cols));
    // a row may start below the last row's keys; an empty row between them changes nothing
    assert.doesNotThrow(() => call(rowPtr, Int32Array.from([2, 3, 0, 1])));
    assert.doesNotThrow(() => call(Int32Array.from([0, 0, 4]), Int32Array.from([0, 1, 2, 3])));
    assert.throws(() => call(rowPtr, bad), /cols must be in \[0, S\)/);
    assert.throws(() => call(rowPtr, Int32Array.from([0, 1, 2, 4])), /cols must be in \[0, S\)/);
    assert.throws(() => call(rowPtr, Int32Array.from([-1, 1, 2, 3])), /cols must be in \[0, S\)/);
    assert.throws(() => call(Int32Array.from([0, 3, 2]), cols), /non-decreasing/);
    // a row's keys out of order or repeated (the block paths read them as a sorted set)
    assert.throws(() => call(rowPtr, Int32Array.from([1, 0, 2, 3])), /strictly ascending/);
    assert.throws(() => call(rowPtr, Int32Array.from([0, 1, 2, 2])), /strictly ascending/);
    assert.throws(() => call(Int32Array.from([0, 2]), cols), /rowPtr/);
  });
});
