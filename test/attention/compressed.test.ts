/**
 * Compressed, prototype and low-rank attention (`compressed`, `induced`, `clustered`,
 * `linformer`) on every backend: each against full attention where it must equal it (identity
 * projections / convolution, one cluster per query) and against its paper's formula written
 * here with plain loops; decoding (compressed, causal); gradients against finite differences;
 * models save and load; the registry lists and checks them.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setBackend } from '../../src/backend/index.js';
import { noGrad } from '../../src/autograd.js';
import { Generator } from '../../src/random.js';
import { Tensor, randn, zeros } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import {
  attentionVariants,
  checkAttention,
  createAttentionCore,
  describeAttentionVariants,
  kmeans,
  type ClusteredAttention,
  type InducedPointAttention,
  type LinformerAttention,
  type MemoryCompressedAttention,
} from '../../src/attention/index.js';
import { MultiheadAttention } from '../../src/nn/attention.js';
import { DecoderLM } from '../../src/models/decoder-lm.js';
import { backends, maxAbsDiff } from '../helpers.js';
import { C, D, H, coreOut, gradcheckCore, packedInput, padBias, randomQKV } from './helpers.js';
import { classifierRoundTrip, decodeInSteps, lmRoundTrip } from './xformer-helpers.js';

const dims = (maxLen?: number): { numHeads: number; headDim: number; maxLen?: number } => ({
  numHeads: H,
  headDim: D,
  maxLen,
});

type Rows = number[][];

/** Row r of head h, batch b of a packed (B, L, 3C) tensor's part p (0 q, 1 k, 2 v). */
function rows(qkv: Tensor, b: number, h: number, p: number): Rows {
  const [, L, W] = qkv.shape;
  return Array.from({ length: L }, (_, r) =>
    Array.from({ length: D }, (_, d) => qkv.f32[(b * L + r) * W + p * C + h * D + d]),
  );
}

/** softmax(q k^T / sqrt(D) + bias) v by hand, a masked-out row giving zeros. */
function attend(q: Rows, k: Rows, v: Rows, allowed = (_i: number, _j: number) => true): Rows {
  return q.map((qi, i) => {
    const s = k.map((kj, j) =>
      allowed(i, j) ? kj.reduce((a, x, d) => a + x * qi[d], 0) / Math.sqrt(D) : -Infinity,
    );
    const m = Math.max(...s);
    const e = s.map((x) => (m === -Infinity ? 0 : Math.exp(x - m)));
    const z = e.reduce((a, x) => a + x, 0) || 1;
    return v[0].map((_, d) => e.reduce((a, w, j) => a + (w / z) * v[j][d], 0));
  });
}

/** Compare a core's (B, T, C) output with per-(b, h) rows from `expected`. */
function assertHeads(out: Tensor, expected: (b: number, h: number) => Rows, tol = 1e-5): void {
  const [B, T] = out.shape;
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const e = expected(b, h);
      for (let t = 0; t < T; t++)
        for (let d = 0; d < D; d++) {
          const got = out.f32[(b * T + t) * C + h * D + d];
          assert.ok(
            Math.abs(got - e[t][d]) < tol,
            `b ${b} h ${h} t ${t} d ${d}: ${got} vs ${e[t][d]}`,
          );
        }
    }
}

/** Set a (rows, cols) tensor to the identity (ones on the diagonal), in place. */
function setIdentity(t: Tensor): void {
  const [r, c] = t.shape;
  t.f32.fill(0);
  for (let i = 0; i < Math.min(r, c); i++) t.f32[i * c + i] = 1;
}

for (const backendName of backends) {
  describe(`compressed, prototype and low-rank attention (${backendName} backend)`, () => {
    test.beforeEach(() => setBackend(backendName));

    test('linformer with identity projections (k = n = T) equals full attention', () => {
      const T = 6;
      const core = createAttentionCore('linformer:k=6', dims(T)) as LinformerAttention;
      setIdentity(core.projE);
      setIdentity(core.projF);
      const qkv = randomQKV(2, T, C, 1);
      const full = coreOut(createAttentionCore('reference', dims()), qkv, C);
      assert.ok(
        maxAbsDiff(coreOut(core, qkv, C).f32, full.f32) < 1e-5,
        'linformer (identity) vs full',
      );
    });

    test('linformer: T < n uses the first T columns of E and F (Eq. 7 by hand); share-kv', () => {
      const T = 5;
      for (const share of [false, true]) {
        const core = createAttentionCore(
          `linformer:k=3,max-len=8,share-kv=${share}`,
          dims(8),
        ) as LinformerAttention;
        assert.deepEqual([...core.stateDict().keys()], share ? ['proj_e'] : ['proj_e', 'proj_f']);
        const qkv = randomQKV(2, T, C, 2);
        const project = (P: Tensor, x: Rows): Rows =>
          Array.from({ length: 3 }, (_, i) =>
            x[0].map((_, d) => x.reduce((a, row, s) => a + P.f32[i * 8 + s] * row[d], 0)),
          );
        assertHeads(coreOut(core, qkv, C), (b, h) =>
          attend(
            rows(qkv, b, h, 0),
            project(core.projE, rows(qkv, b, h, 1)),
            project(core.projF, rows(qkv, b, h, 2)),
          ),
        );
      }
      const core = createAttentionCore('linformer:k=3', dims(4));
      assert.throws(() => coreOut(core, randomQKV(1, 5, C, 3), C), /5 keys exceed max-len 4/);
      assert.throws(() => createAttentionCore('linformer', dims()), /max-len is required/);
      assert.throws(
        () => createAttentionCore('linformer:max-len=16', dims(8)),
        /max-len=16 must match the model's context 8/,
      );
    });

    for (const causal of [false, true]) {
      test(`compressed (${causal ? 'causal' : 'non-causal'}): stride 1 with the identity convolution equals full attention`, () => {
        const core = createAttentionCore(
          'compressed:stride=1',
          dims(),
        ) as MemoryCompressedAttention;
        for (const conv of [core.keyCompress, core.valueCompress]) {
          setIdentity(conv.weight);
          conv.bias!.f32.fill(0);
        }
        const full = createAttentionCore('reference', dims());
        const qkv = randomQKV(2, 7, C, 4);
        const bias = padBias(2, 7, [0, 2]);
        for (const over of [{ causal }, { causal, bias }]) {
          const a = coreOut(core, qkv, C, over);
          assert.ok(
            maxAbsDiff(a.f32, coreOut(full, qkv, C, over).f32) < 1e-5,
            'compressed (stride 1) vs full',
          );
        }
      });

      test(`compressed (${causal ? 'causal' : 'non-causal'}, stride 3): the strided convolution and slot masks by hand`, () => {
        const s = 3;
        const T = 8; // slots {0,1,2} {3,4,5} {6,7,pad}
        const core = createAttentionCore(
          `compressed:stride=${s}`,
          dims(),
        ) as MemoryCompressedAttention;
        const qkv = randomQKV(2, T, C, 5);
        const pad = [0, 6]; // row 1 keeps keys 0, 1: slot 0 half padding, slots 1, 2 all padding
        const bias = padBias(2, T, pad);
        const conv = (x: Rows, w: Tensor, bvec: Tensor, keepUntil: number): Rows =>
          Array.from({ length: Math.ceil(T / s) }, (_, j) =>
            Array.from({ length: D }, (_, o) => {
              let a = bvec.f32[o];
              for (let r = 0; r < s; r++)
                for (let d = 0; d < D; d++) {
                  const row = j * s + r;
                  if (row < keepUntil) a += w.f32[o * s * D + r * D + d] * x[row][d];
                }
              return a;
            }),
          );
        assertHeads(coreOut(core, qkv, C, { causal, bias }), (b, h) => {
          const keepUntil = T - pad[b];
          const kc = conv(
            rows(qkv, b, h, 1),
            core.keyCompress.weight,
            core.keyCompress.bias!,
            keepUntil,
          );
          const vc = conv(
            rows(qkv, b, h, 2),
            core.valueCompress.weight,
            core.valueCompress.bias!,
            keepUntil,
          );
          return attend(
            rows(qkv, b, h, 0),
            kc,
            vc,
            (i, j) => j * s < keepUntil && (!causal || (j + 1) * s - 1 <= i),
          );
        });
      });
    }

    test('compressed: causal decoding with its state equals re-running the prefix', () => {
      const mha = new MultiheadAttention(C, H, {
        kind: 'self',
        attention: 'compressed:stride=2',
        generator: new Generator(6),
      }).eval();
      const L = 9;
      const x = randn([2, L, C], new Generator(7));
      const full = noGrad(() => mha.forward(x, x, x, { isCausal: true }).out);
      const state = mha.newState();
      const steps = decodeInSteps(mha, x, state);
      assert.ok(maxAbsDiff(steps.f32, full.f32) < 1e-5, 'decoded vs re-run');
    });

    test('induced: ISAB by hand, H = Attn(I, K, V), out = Attn(Q, H, H); padded keys masked', () => {
      const core = createAttentionCore('induced:points=3', dims()) as InducedPointAttention;
      const T = 6;
      const qkv = randomQKV(2, T, C, 8);
      const pad = [0, 2];
      const I = core.inducingPoints; // (H, m, D)
      const points = (h: number): Rows =>
        Array.from({ length: 3 }, (_, i) =>
          Array.from({ length: D }, (_, d) => I.f32[(h * 3 + i) * D + d]),
        );
      assertHeads(coreOut(core, qkv, C, { bias: padBias(2, T, pad) }), (b, h) => {
        const gathered = attend(
          points(h),
          rows(qkv, b, h, 1),
          rows(qkv, b, h, 2),
          (_i, j) => j < T - pad[b],
        );
        return attend(rows(qkv, b, h, 0), gathered, gathered);
      });
    });

    test('clustered: one cluster per query equals full attention; two clusters by hand', () => {
      const T = 6;
      const qkv = randomQKV(2, T, C, 9);
      const bias = padBias(2, T, [0, 1]);
      const full = coreOut(createAttentionCore('reference', dims()), qkv, C, { bias });
      const each = createAttentionCore(`clustered:clusters=${T}`, dims());
      const w = noGrad(
        () => each.forward(packedInput(qkv, C, { bias, needWeights: true })).weights,
      );
      const wRef = noGrad(
        () =>
          createAttentionCore('full', dims()).forward(
            packedInput(qkv, C, { bias, needWeights: true }),
          ).weights,
      );
      assert.ok(maxAbsDiff(w!.f32, wRef!.f32) < 1e-5, 'per-query weights vs full');
      assert.ok(
        maxAbsDiff(coreOut(each, qkv, C, { bias }).f32, full.f32) < 1e-5,
        'one cluster per query vs full',
      );
      // Two well separated groups of queries: K-means finds them; each query gets its
      // group's centroid attention.
      const sep = qkv.clone();
      for (let b = 0; b < 2; b++)
        for (let t = 0; t < T; t++)
          for (let c = 0; c < C; c++) sep.f32[(b * T + t) * 3 * C + c] += t < 3 ? 4 : -4;
      const core = createAttentionCore(
        'clustered:clusters=2,iterations=3',
        dims(),
      ) as ClusteredAttention;
      assertHeads(coreOut(core, sep, C, { bias }), (b, h) => {
        const q = rows(sep, b, h, 0);
        const mean = (g: Rows): number[] =>
          g[0].map((_, d) => g.reduce((a, r) => a + r[d], 0) / g.length);
        const cents = [mean(q.slice(0, 3)), mean(q.slice(3))];
        const out = attend(
          cents,
          rows(sep, b, h, 1),
          rows(sep, b, h, 2),
          (_i, j) => j < T - [0, 1][b],
        );
        return q.map((_, t) => out[t < 3 ? 0 : 1]);
      });
      assert.deepEqual(
        [...kmeans(randn([1, 4, 2], new Generator(1)), 4, 2)],
        [0, 1, 2, 3],
        'every query its own cluster',
      );
      // Rows far from the origin (a common offset of 100): the same clusters as exact float64
      // Lloyd iterations from the same start (the GEMM form loses them without centring).
      {
        const [T2, D2, C2] = [256, 16, 8];
        const x = randn([1, T2, D2], new Generator(4));
        const xs = x.f32.map((v) => 100 + 0.3 * v);
        const want = new Int32Array(T2);
        const cent = Array.from({ length: C2 }, (_, j) => {
          const r = Math.floor((j * T2) / C2);
          return Array.from(xs.subarray(r * D2, (r + 1) * D2));
        });
        for (let it = 0; it <= 2; it++) {
          for (let t = 0; t < T2; t++) {
            let best = 0;
            let bestD = Infinity;
            cent.forEach((c, j) => {
              let dist = 0;
              for (let d = 0; d < D2; d++) dist += (xs[t * D2 + d] - c[d]) ** 2;
              if (dist < bestD) [best, bestD] = [j, dist];
            });
            want[t] = best;
          }
          if (it === 2) break;
          cent.forEach((c, j) => {
            const mine = [...want.keys()].filter((t) => want[t] === j);
            if (mine.length > 0)
              for (let d = 0; d < D2; d++)
                c[d] = mine.reduce((a, t) => a + xs[t * D2 + d], 0) / mine.length;
          });
        }
        const got = kmeans(new Tensor(xs, [1, T2, D2]), C2, 2);
        assert.deepEqual([...got], [...want], 'offset rows: exact Lloyd assignments');
      }
      // Fewer clusters than queries differs from full attention.
      assert.ok(
        maxAbsDiff(coreOut(core, qkv, C, { bias }).f32, full.f32) > 1e-3,
        'two clusters differ from full',
      );
    });

    test('gradients equal finite differences', () => {
      const bias = padBias(2, 5, [0, 1]);
      const qkv = randomQKV(2, 5, C, 10, 0.5);
      gradcheckCore(createAttentionCore('linformer:k=3', dims(5)), qkv, C, { bias });
      gradcheckCore(createAttentionCore('compressed:stride=2', dims()), qkv, C, { bias });
      gradcheckCore(createAttentionCore('compressed:stride=2', dims()), qkv, C, { causal: true });
      gradcheckCore(createAttentionCore('induced:points=2', dims()), qkv, C, { bias });
      gradcheckCore(createAttentionCore('clustered:clusters=5', dims()), qkv, C, { bias });
      // The parameters get gradients too.
      const core = createAttentionCore('induced:points=2', dims());
      const x = randomQKV(1, 4, C, 11).requiresGrad_(true);
      F.sum(core.forward(packedInput(x, C)).out).backward();
      for (const [name, p] of core.namedParameters())
        assert.ok(p.grad && p.grad.f32.some((g) => g !== 0), `${name} has a gradient`);
    });
  });
}

describe('compressed, prototype and low-rank attention: models and registry', () => {
  test('every variant saves, loads and gives the same logits', () => {
    lmRoundTrip('compressed:stride=2');
    for (const spec of [
      'compressed:stride=2',
      'induced:points=4',
      'clustered:clusters=3',
      'linformer:k=4',
    ])
      classifierRoundTrip(spec);
  });

  test('listed by describeAttentionVariants; the non-causal ones refuse decoders', () => {
    const names = attentionVariants().map((v) => v.name);
    const lines = describeAttentionVariants();
    for (const n of ['linear', 'performer', 'compressed', 'induced', 'clustered', 'linformer'])
      assert.ok(lines[names.indexOf(n)].startsWith(n), n);
    assert.match(
      lines[names.indexOf('linformer')],
      /^linformer:k=64,max-len=0,share-kv=false +O\(T k D\)/,
    );
    for (const n of ['induced', 'clustered', 'linformer']) {
      assert.throws(() => checkAttention(n, true, 'a language model'), /cannot run causally/);
      assert.throws(
        () =>
          new DecoderLM({
            vocabSize: 5,
            blockSize: 8,
            dModel: C,
            nhead: H,
            numLayers: 1,
            attention: n,
          }),
        /cannot run causally/,
      );
    }
    for (const n of ['linear', 'performer', 'compressed']) checkAttention(n, true, 'a decoder');
    const core = createAttentionCore('induced', dims());
    assert.throws(() => core.newState(), /non-causal: it has no decoding state/);
    assert.throws(
      () => coreOut(core, randomQKV(1, 3, C, 1), C, { causal: true }),
      /cannot run causally/,
    );
    assert.throws(
      () => coreOut(core, randomQKV(1, 3, C, 1), C, { bias: zeros([3, 3]) }),
      /only a key padding mask/,
    );
  });
});
