/**
 * Content-based sparse attention (issue #12 family 2) against dense references written
 * here, on every backend: Reformer's `lsh` equals shared-QK full attention with the
 * self-mask when every token shares one bucket, and the dense attention under the mask
 * "same bucket and chunk rule" (with the rounds' log-sum-exp combination as a log-count
 * bias) built from the core's own hashes; causal variants leak no future and decode with a
 * cache equal to the full pass; an LM saves and loads. `routing` equals full attention with
 * one cluster covering the sequence, and the dense attention under each cluster's mask
 * (mean over a query's clusters; causal: its nearest centroid's chunk of keys and the one before) built
 * from the core's own routing; its centroids move by EMA in training and save and load.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setBackend } from '../../src/backend/index.js';
import { noGrad } from '../../src/autograd.js';
import { Generator } from '../../src/random.js';
import { Tensor, randn, tensor, zeros } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import {
  createAttentionCore,
  headsToBHLD,
  mergeHeads,
  type AttentionCore,
} from '../../src/attention/index.js';
import { LSHAttention } from '../../src/attention/lsh.js';
import { RoutingAttention, topRows } from '../../src/attention/routing.js';
import { attention } from '../../src/attention/reference.js';
import { MultiheadAttention } from '../../src/nn/attention.js';
import { DecoderLM, type DecoderLMConfig } from '../../src/models/decoder-lm.js';
import { EncoderClassifier } from '../../src/models/classifier.js';
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
  outAndGrad,
} from './helpers.js';
import { cachedLogits, decodeDiff, tinyLMConfig } from './xformer-helpers.js';

/** `lm` saved and loaded into a model of `cfg` built with another seed (eval mode). */
function reloaded(lm: DecoderLM, cfg: DecoderLMConfig): DecoderLM {
  const dir = mkdtempSync(join(tmpdir(), 'content-'));
  try {
    saveModel(lm, join(dir, 'm.safetensors'));
    const lm2 = new DecoderLM(cfg, new Generator(99)).eval();
    loadModel(lm2, join(dir, 'm.safetensors'));
    return lm2;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Shared-QK dense attention (Kitaev et al. 2020, Sec. 2), written independently: keys are
 * the unit-length queries, a token's own score is -1e5, `bias` (B|1, H|1, T, T) added.
 */
function sharedQK(qkv: Tensor, bias: Tensor | null): Tensor {
  const v = headsToBHLD({ x: qkv, col: 2 * C }, H, D);
  return mergeHeads(F.matmul(sharedQKWeights(qkv, bias), v));
}

/** The weights (B, H, T, T) of `sharedQK`. */
function sharedQKWeights(qkv: Tensor, bias: Tensor | null): Tensor {
  const q = headsToBHLD({ x: qkv, col: 0 }, H, D); // (B, H, T, D)
  const T = q.shape[2];
  const kn = F.div(q, F.sqrt(F.sum(F.mul(q, q), -1, true)));
  let s = F.mul(F.matmul(q, kn, { transB: true }), 1 / Math.sqrt(D)); // (B, H, T, T)
  const eye = new Tensor(
    Uint8Array.from({ length: T * T }, (_, i) => (i % (T + 1) === 0 ? 1 : 0)),
    [T, T],
  );
  s = F.maskedFill(s, eye, -1e5);
  if (bias) s = F.add(s, bias);
  return F.softmax(s, -1);
}

/** -Infinity above the diagonal (T, T). */
function causalMask(T: number): Tensor {
  const m = zeros([T, T]);
  for (let t = 0; t < T; t++) for (let s = t + 1; s < T; s++) m.f32[t * T + s] = -Infinity;
  return m;
}

/**
 * The LSH pattern as a dense (B, H, T, T) bias log(count): count = rounds in which key s is
 * in query t's bucket and in its chunk or the previous one (chunks of c per bucket, in
 * position order), and s <= t when causal.
 */
function lshBias(
  buckets: Int32Array,
  B: number,
  R: number,
  T: number,
  c: number,
  causal: boolean,
): Tensor {
  const m = zeros([B, H, T, T]);
  for (let bh = 0; bh < B * H; bh++) {
    const count = new Float64Array(T * T);
    for (let r = 0; r < R; r++) {
      const bk = buckets.subarray((bh * R + r) * T, (bh * R + r + 1) * T);
      const rank = (t: number): number => {
        let n = 0;
        for (let s = 0; s < t; s++) if (bk[s] === bk[t]) n++;
        return n;
      };
      for (let t = 0; t < T; t++)
        for (let s = 0; s < T; s++) {
          const dc = Math.floor(rank(t) / c) - Math.floor(rank(s) / c);
          if (bk[s] === bk[t] && (dc === 0 || dc === 1) && (!causal || s <= t)) count[t * T + s]++;
        }
    }
    for (let i = 0; i < T * T; i++) m.f32[bh * T * T + i] = Math.log(count[i]);
  }
  return m;
}

/** q, k, v heads (B, H, L, D) of a packed projection. */
function qkvHeads(qkv: Tensor): [Tensor, Tensor, Tensor] {
  return [0, 1, 2].map((i) => headsToBHLD({ x: qkv, col: i * C }, H, D)) as [
    Tensor,
    Tensor,
    Tensor,
  ];
}

/** A (B, H, T, S) bias: 0 where allowed(bh, t, s), else -Infinity. */
function denseMask(
  B: number,
  T: number,
  S: number,
  allowed: (bh: number, t: number, s: number) => boolean,
): Tensor {
  const m = zeros([B, H, T, S]);
  for (let bh = 0; bh < B * H; bh++)
    for (let t = 0; t < T; t++)
      for (let s = 0; s < S; s++) if (!allowed(bh, t, s)) m.f32[(bh * T + t) * S + s] = -Infinity;
  return m;
}

/**
 * Non-causal routing written densely: for each cluster c, Eq. 1 over c's member keys; a
 * query's output is the mean over the clusters holding it (0 when none).
 */
function routedDense(qkv: Tensor, r: RoutingAttention): { out: Tensor; weights: Tensor } {
  const [q, k, v] = qkvHeads(qkv);
  const [B, , T] = q.shape;
  const S = k.shape[2];
  const qm = r.members(q.detach());
  const km = r.members(k.detach());
  const nc = r.clusters;
  const wq = qm.length / (B * H * nc);
  const wk = km.length / (B * H * nc);
  const inQ = (bh: number, c: number, t: number): boolean =>
    qm.subarray((bh * nc + c) * wq, (bh * nc + c + 1) * wq).includes(t);
  const count = (bh: number, t: number): number =>
    Array.from({ length: nc }, (_, c) => inQ(bh, c, t)).filter(Boolean).length;
  let out: Tensor | null = null;
  let weights: Tensor | null = null;
  for (let c = 0; c < nc; c++) {
    const mask = denseMask(B, T, S, (bh, _t, s) =>
      km.subarray((bh * nc + c) * wk, (bh * nc + c + 1) * wk).includes(s),
    );
    const coef = zeros([B, H, T, 1]);
    for (let bh = 0; bh < B * H; bh++)
      for (let t = 0; t < T; t++) if (inQ(bh, c, t)) coef.f32[bh * T + t] = 1 / count(bh, t);
    const rc = attention(q, k, v, { bias: mask });
    const oc = F.mul(rc.out, coef);
    const wc = F.mul(rc.weights, coef);
    out = out ? F.add(out, oc) : oc;
    weights = weights ? F.add(weights, wc) : wc;
  }
  return { out: mergeHeads(out!), weights: weights! };
}

/**
 * Causal routing written densely: key s for query t iff same nearest centroid, s <= t, and
 * rank(s) >= w (floor(p / w) - 1), where ranks count the cluster's keys and p is the rank of
 * the latest cluster key at or before t.
 */
function routedCausalDense(qkv: Tensor, r: RoutingAttention): Tensor {
  const [q, k, v] = qkvHeads(qkv);
  const [B, , T] = q.shape;
  const cq = r.nearest(q.detach());
  const ck = r.nearest(k.detach());
  const w = r.window;
  const mask = denseMask(B, T, T, (bh, t, s) => {
    const z = cq[bh * T + t];
    if (s > t || ck[bh * T + s] !== z) return false;
    let rank = 0; // cluster keys before s
    let p = -1; // rank of the latest cluster key <= t
    for (let j = 0; j <= t; j++)
      if (ck[bh * T + j] === z) {
        if (j < s) rank++;
        p++;
      }
    return rank >= w * (Math.floor(p / w) - 1);
  });
  return mergeHeads(attention(q, k, v, { bias: mask }).out);
}

/** Largest change of outputs before position `t` when the token at `t` is perturbed. */
function futureLeak(c: AttentionCore, T: number, t: number): number {
  const qkv = randn([1, T, 3 * C], new Generator(21));
  const a = noGrad(() => c.forward(input(qkv, { causal: true })).out);
  const qkv2 = new Tensor(qkv.f32.slice(), qkv.shape);
  for (let j = 0; j < 3 * C; j++) qkv2.f32[t * 3 * C + j] += 3 * Math.sin(j + 1);
  const b = noGrad(() => c.forward(input(qkv2, { causal: true })).out);
  return maxAbsDiff(F.slice(a, 1, 0, t).f32, F.slice(b, 1, 0, t).f32);
}

for (const backendName of backends) {
  describe(`content-based sparse attention (${backendName} backend)`, () => {
    test.beforeEach(() => setBackend(backendName));

    for (const causal of [false, true])
      for (const rounds of [1, 3]) {
        test(`lsh, one bucket (rounds ${rounds}, ${causal ? 'causal' : 'non-causal'}) equals shared-QK full attention: outputs and gradients`, () => {
          const B = 2;
          const T = 7;
          const lsh = createAttentionCore(`lsh:buckets=1,rounds=${rounds},chunk=${T}`, dims);
          const qkv = randn([B, T, 3 * C], new Generator(30 + rounds));
          const a = coreOutAndGrad(lsh, qkv, { causal });
          const b = outAndGrad((x) => sharedQK(x, causal ? causalMask(T) : null), qkv);
          assertOutAndGradClose(a, b);
          // With key padding: the bias reaches the gathered scores.
          const pad = zeros([B, 1, 1, T]);
          pad.f32[T + T - 1] = pad.f32[T + T - 2] = -Infinity;
          const c = coreOutAndGrad(lsh, qkv, { causal, bias: pad });
          const d = outAndGrad((x) => sharedQK(x, causal ? F.add(pad, causalMask(T)) : pad), qkv);
          assertOutAndGradClose(c, d, 'pad ');
        });
      }

    for (const causal of [false, true])
      for (const [buckets, rounds, chunk] of [
        [4, 2, 2],
        [2, 3, 3],
        [6, 1, 1],
      ]) {
        test(`lsh (buckets ${buckets}, rounds ${rounds}, chunk ${chunk}, ${causal ? 'causal' : 'non-causal'}) equals dense attention under its bucket-and-chunk mask`, () => {
          const B = 2;
          const T = 13;
          const lsh = new LSHAttention(dims, buckets, rounds, chunk, 4).eval();
          const qkv = randn([B, T, 3 * C], new Generator(40 + buckets));
          const hashes = lsh.hash(headsToBHLD({ x: qkv, col: 0 }, H, D));
          const bias = lshBias(hashes, B, rounds, T, chunk, causal);
          const a = coreOutAndGrad(lsh, qkv, { causal });
          const b = outAndGrad((x) => sharedQK(x, bias), qkv);
          assertOutAndGradClose(a, b);
          // The pattern is sparse (some pairs excluded) and the weights come back dense.
          assert.ok(
            bias.f32.some((x) => x === -Infinity),
            'some pair is excluded',
          );
          const w = noGrad(() => lsh.forward(input(qkv, { causal, needWeights: true }))).weights!;
          const wRef = noGrad(() => sharedQKWeights(qkv, bias));
          assert.ok(maxAbsDiff(w.f32, wRef.f32) < 1e-5, `weights ${maxAbsDiff(w.f32, wRef.f32)}`);
        });
      }

    test('lsh: a bucket is argmax([xR; -xR]) of its round (Kitaev et al. 2020, Sec. 2), first of equals', () => {
      for (const buckets of [2, 8]) {
        const lsh = new LSHAttention(dims, buckets, 3, 2, 5);
        const [B, L, half] = [2, 40, buckets / 2];
        const x = randn([B, H, L, D], new Generator(11 + buckets));
        for (let d = 0; d < D; d++) x.f32[5 * D + d] = 0; // a row of zeros: all ties
        const h = lsh.hash(x);
        const R = lsh.rotations.f32;
        for (let bh = 0; bh < B * H; bh++)
          for (let l = 0; l < L; l++)
            for (let r = 0; r < 3; r++) {
              const vals: number[] = [];
              for (let j = 0; j < half; j++) {
                let dot = 0;
                for (let d = 0; d < D; d++)
                  dot += x.f32[(bh * L + l) * D + d] * R[d * 3 * half + r * half + j];
                vals.push(dot);
              }
              const all = [...vals, ...vals.map((v) => -v)];
              // a float32 matmul against float64 dots: skip rows whose best two are too close
              const sorted = [...all].sort((a, b) => b - a);
              if (sorted[0] !== 0 && sorted[0] - sorted[1] < 1e-4) continue;
              const want = all.indexOf(Math.max(...all));
              assert.equal(h[(bh * 3 + r) * L + l], want, `bh ${bh}, l ${l}, round ${r}`);
            }
      }
    });

    test('lsh causal: perturbing a token changes no earlier output', () => {
      const lsh = createAttentionCore('lsh:buckets=4,rounds=2,chunk=2', dims).eval();
      assert.equal(futureLeak(lsh, 12, 7), 0);
    });

    test('lsh: hashes spread over buckets; training draws new rotations, evaluation keeps them', () => {
      const lsh = new LSHAttention(dims, 4, 2, 2, 0);
      const q = headsToBHLD({ x: randn([1, 16, 3 * C], new Generator(3)), col: 0 }, H, D);
      const h = lsh.hash(q);
      assert.ok(new Set(h).size > 1, 'several buckets used');
      const qkv = randn([1, 16, 3 * C], new Generator(4));
      const gen = new Generator(9);
      const t1 = noGrad(() => lsh.forward(input(qkv, { generator: gen })).out);
      const t2 = noGrad(() => lsh.forward(input(qkv, { generator: gen })).out);
      assert.ok(maxAbsDiff(t1.f32, t2.f32) > 1e-6, 'rehashed');
      lsh.eval();
      const e1 = noGrad(() => lsh.forward(input(qkv, { generator: gen })).out);
      const e2 = noGrad(() => lsh.forward(input(qkv, { generator: gen })).out);
      assert.deepEqual([...e1.f32], [...e2.f32]);
      assert.throws(() => new LSHAttention(dims, 3, 1, 2), /buckets must be 1 or an even/);
      assert.throws(
        () => lsh.forward(input(qkv, { k: { x: randn([1, 5, C]), col: 0 } })),
        /self-attention only/,
      );
    });

    for (const spec of ['lsh:buckets=4,rounds=2,chunk=2', 'lsh:buckets=2,rounds=1,chunk=3']) {
      test(`${spec}: decoding with its state equals the full causal pass`, () => {
        const diff = decodeDiff(spec, 13);
        assert.ok(diff < 1e-5, `decode diff ${diff}`);
      });
    }

    test('an lsh LM: cached generation equals uncached; save and load keep the logits', () => {
      const cfg = tinyLMConfig('lsh:buckets=4,rounds=2,chunk=2,seed=3');
      const lm = new DecoderLM(cfg, new Generator(12)).eval();
      const idx = tensor([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]], undefined, 'int32');
      const full = noGrad(() => lm.forward(idx));
      const steps = cachedLogits(lm, idx);
      assert.ok(maxAbsDiff(steps.f32, full.f32) < 1e-5, 'cached == uncached');
      const lm2 = reloaded(lm, cfg);
      assert.ok(
        maxAbsDiff(noGrad(() => lm2.forward(idx)).f32, full.f32) < 1e-6,
        'loaded logits equal',
      );
    });
    for (const causal of [false, true])
      test(`routing, one cluster covering the sequence (${causal ? 'causal' : 'non-causal'}) equals full attention: outputs and gradients`, () => {
        const B = 2;
        const T = 7;
        const routing = createAttentionCore(`routing:clusters=1,window=${T}`, dims).eval();
        const ref = createAttentionCore('reference', dims);
        const qkv = randn([B, T, 3 * C], new Generator(50));
        const a = coreOutAndGrad(routing, qkv, { causal });
        const b = coreOutAndGrad(ref, qkv, { causal });
        assertOutAndGradClose(a, b);
        const pad = zeros([B, 1, 1, T]);
        pad.f32[T + T - 1] = -Infinity;
        const c = coreOutAndGrad(routing, qkv, { causal, bias: pad });
        const d = coreOutAndGrad(ref, qkv, { causal, bias: pad });
        assertOutAndGradClose(c, d, 'pad ');
      });

    for (const [clusters, window] of [
      [3, 4],
      [4, 2],
      [2, 9],
    ])
      test(`routing (clusters ${clusters}, window ${window}) equals dense attention under its cluster masks, non-causal and causal`, () => {
        const B = 2;
        const T = 11;
        const r = new RoutingAttention(dims, clusters, window, 0.999, 6).eval();
        const qkv = randn([B, T, 3 * C], new Generator(60 + clusters));
        const a = coreOutAndGrad(r, qkv);
        const b = outAndGrad((x) => routedDense(x, r).out, qkv);
        assertOutAndGradClose(a, b);
        const c = coreOutAndGrad(r, qkv, { causal: true });
        const d = outAndGrad((x) => routedCausalDense(x, r), qkv);
        assertOutAndGradClose(c, d, 'causal ');
        // Routing is sparse here: some query misses some cluster's keys.
        const [q] = qkvHeads(qkv);
        assert.ok(new Set(r.nearest(q)).size > 1, 'rows spread over clusters');
        const w = noGrad(() => r.forward(input(qkv, { needWeights: true }))).weights!;
        const wRef = noGrad(() => routedDense(qkv, r).weights);
        assert.ok(maxAbsDiff(w.f32, wRef.f32) < 1e-5, `weights ${maxAbsDiff(w.f32, wRef.f32)}`);
        assert.ok(
          w.f32.some((x) => x === 0),
          'some weight is zero',
        );
      });

    test('routing causal: perturbing a token changes no earlier output', () => {
      const r = createAttentionCore('routing:clusters=3,window=2', dims).eval();
      assert.equal(futureLeak(r, 12, 6), 0);
    });

    test('routing: decoding with its state equals the full causal pass', () => {
      assert.ok(decodeDiff('routing:clusters=3,window=2', 12) < 1e-5, 'decode 3 clusters');
      assert.ok(decodeDiff('routing:clusters=2,window=4,seed=1', 12) < 1e-5, 'decode 2 clusters');
    });

    test('routing: centroids move by EMA in training only, toward the normalized sum of their rows', () => {
      const qkv = randn([2, 9, 3 * C], new Generator(70));
      const [q, k] = qkvHeads(qkv);
      const r = new RoutingAttention(dims, 3, 4, 0, 2);
      const near = [r.nearest(q), r.nearest(k)];
      const before = r.means.f32.slice();
      noGrad(() => r.eval().forward(input(qkv)));
      assert.deepEqual([...r.means.f32], [...before], 'evaluation leaves them');
      noGrad(() => r.train().forward(input(qkv)));
      // decay 0: each centroid with rows is the unit direction of the sum of its unit rows.
      for (let h = 0; h < H; h++)
        for (let c = 0; c < 3; c++) {
          const sum = new Float64Array(D);
          let n = 0;
          [q, k].forEach((x, xi) => {
            const L = x.shape[2];
            for (let b = 0; b < 2; b++)
              for (let l = 0; l < L; l++) {
                if (near[xi][(b * H + h) * L + l] !== c) continue;
                const row = x.f32.subarray(
                  ((b * H + h) * L + l) * D,
                  ((b * H + h) * L + l + 1) * D,
                );
                const len = Math.hypot(...row);
                row.forEach((e, d) => (sum[d] += e / len));
                n++;
              }
          });
          const mu = r.means.f32.subarray((h * 3 + c) * D, (h * 3 + c + 1) * D);
          if (n === 0) {
            assert.deepEqual([...mu], [...before.subarray((h * 3 + c) * D, (h * 3 + c + 1) * D)]);
            continue;
          }
          const len = Math.hypot(...sum);
          mu.forEach((e, d) => assert.ok(Math.abs(e - sum[d] / len) < 1e-5, `mu[${h},${c},${d}]`));
        }
      assert.equal(r.means.requiresGrad, false);
    });

    test('a routing LM: centroids are in the state dict, get no gradient, and save and load with the logits', () => {
      const cfg = tinyLMConfig('routing:clusters=2,window=3,decay=0.5');
      const lm = new DecoderLM(cfg, new Generator(12));
      const idx = tensor([[1, 2, 3, 4, 5, 6, 7, 8, 9]], undefined, 'int32');
      const names = [...lm.stateDict().keys()].filter((n) => n.endsWith('core.means'));
      assert.equal(names.length, 2, names.join());
      const means = lm.stateDict().get(names[0])!;
      const before = means.f32.slice();
      F.sum(lm.forward(idx)).backward(); // a training forward moves the centroids
      assert.ok(maxAbsDiff(means.f32, before) > 1e-4, 'centroids moved');
      assert.equal(means.grad, null);
      lm.eval();
      const full = noGrad(() => lm.forward(idx));
      const lm2 = reloaded(lm, cfg);
      assert.ok(
        maxAbsDiff(noGrad(() => lm2.forward(idx)).f32, full.f32) < 1e-6,
        'loaded logits equal',
      );
      const steps = cachedLogits(lm2, idx);
      assert.ok(maxAbsDiff(steps.f32, full.f32) < 1e-5, 'cached == uncached');
    });
    for (const attention of ['lsh:buckets=4,rounds=2,chunk=3', 'routing:clusters=2,window=4'])
      test(`an encoder classifier with ${attention} (non-causal, padded): trains, evaluates finitely, saves and loads`, () => {
        const cfg = { vocabSize: 10, numClasses: 3, dModel: C, nhead: H, numLayers: 2, attention };
        const m = new EncoderClassifier(cfg, new Generator(13));
        const ids = tensor(
          [
            [3, 4, 5, 6, 7, 8, 9, 2],
            [5, 5, 6, 1, 2, 0, 0, 0],
          ],
          undefined,
          'int32',
        );
        F.sum(m.forward(ids)).backward(); // a training step's forward and backward
        const grads = m.parameters().filter((p) => p.requiresGrad);
        assert.ok(
          grads.every((p) => p.grad && p.grad.f32.every(Number.isFinite)),
          'finite grads',
        );
        m.eval();
        const logits = noGrad(() => m.forward(ids));
        assert.ok(logits.f32.every(Number.isFinite), 'finite logits');
        const dir = mkdtempSync(join(tmpdir(), 'content-cls-'));
        saveModel(m, join(dir, 'm.safetensors'));
        const m2 = new EncoderClassifier(cfg, new Generator(98)).eval();
        loadModel(m2, join(dir, 'm.safetensors'));
        assert.equal(m2.config.attention, m.config.attention);
        assert.ok(maxAbsDiff(noGrad(() => m2.forward(ids)).f32, logits.f32) < 1e-6, 'loaded');
      });
    for (const spec of ['lsh:buckets=4,rounds=2,chunk=2', 'routing:clusters=3,window=2'])
      test(`${spec}: a decoding state reorders its rows (beam search) with its tags`, () => {
        const mha = new MultiheadAttention(C, H, {
          kind: 'self',
          attention: spec,
          generator: new Generator(15),
        }).eval();
        const L = 9;
        const x = randn([2, L, C], new Generator(16));
        const order = [1, 0, 1];
        const rows = (t: Tensor): Tensor =>
          F.concat(
            order.map((b) => F.slice(t, 0, b, b + 1)),
            0,
          );
        const full = noGrad(() => mha.forward(rows(x), rows(x), rows(x), { isCausal: true }).out);
        const state = mha.newState();
        const steps = noGrad(() => {
          const p = F.slice(x, 1, 0, 5);
          mha.forward(p, p, p, { isCausal: true }, state);
          state.selectRows(order);
          const out: Tensor[] = [];
          for (let t = 5; t < L; t++) {
            const xt = rows(F.slice(x, 1, t, t + 1));
            out.push(mha.forward(xt, xt, xt, { isCausal: true }, state).out);
          }
          return out;
        });
        const diff = maxAbsDiff(F.concat(steps, 1).f32, F.slice(full, 1, 5, L).f32);
        assert.ok(diff < 1e-5, `reordered decode diff ${diff}`);
      });
  });
}

test('routing topRows: the w best rows (ties to the earlier row) as a full sort picks them', () => {
  const g = new Generator(5);
  for (const [L, w] of [
    [50, 7],
    [300, 64],
    [9, 9],
    [40, 1],
  ]) {
    // integer scores in [0, 6): many ties, so the tie rule is exercised
    const score = Float32Array.from({ length: L }, () => g.randint(6));
    const rows = Array.from({ length: L }, (_, l) => l);
    const want = rows
      .sort((a, b) => score[b] - score[a] || a - b)
      .slice(0, w)
      .sort((a, b) => a - b);
    assert.deepEqual([...topRows(score, w)], want, `L ${L}, w ${w}`);
  }
});
