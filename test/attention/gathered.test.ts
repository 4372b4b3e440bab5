/**
 * The fused gathered-attention kernels (gatheredAttentionForward / Backward, the path of
 * LSH and routing attention) against the composed reference (gathers, batched GEMMs, the
 * plan's dense mask, softmax, the slots' combination: composedGatheredAttention), on every
 * backend: outputs and the gradients of q, k and v within 1e-5 on random plans with empty
 * query and key slots, several slots per query, causal order with a query offset, the
 * shared-QK self score, a per-key bias with forbidden keys, dropout, and both combinations
 * ('lse' and mean). The native kernel also equals the js one on a pool-sized plan, and bad
 * plans are refused.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { availableBackends, backend, setBackend, type Backend } from '../../src/backend/index.js';
import { jsBackend as js } from '../../src/backend/js.js';
import { loadNativeBackend } from '../../src/backend/native.js';
import {
  composedGatheredAttention,
  gatheredAttention,
  type GatherPlan,
} from '../../src/attention/gathered.js';
import { Generator } from '../../src/random.js';
import { Tensor, randn } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import { assertClose, backends } from '../helpers.js';

interface PlanSpec {
  B: number;
  H: number;
  T: number;
  Lk: number;
  G: number;
  Q: number;
  K: number;
  M: number;
  causal: boolean;
  qStart: number;
  flagSelf: boolean;
  combine: 'lse' | 'mean';
  bias: boolean;
}

/**
 * A random plan: every group holds distinct queries (about 1 in 6 slots empty, no query in
 * more than M slots) and distinct keys (about 1 in 6 empty), often including the position
 * of one of its queries (so self entries occur).
 */
function randomPlan(s: PlanSpec, seed: number): GatherPlan {
  const { B, H, T, Lk, G, Q, K, M } = s;
  const gen = new Generator(seed);
  const pick = (n: number): number => Math.floor(gen.uniform() * n);
  const qRow = new Int32Array(B * H * G * Q).fill(-1);
  const kRow = new Int32Array(B * H * G * K).fill(-1);
  const slot = new Int32Array(B * H * T * M).fill(-1);
  for (let bh = 0; bh < B * H; bh++) {
    const used = new Int32Array(T);
    for (let g = 0; g < G; g++) {
      const inGroup = new Set<number>();
      for (let i = 0; i < Q; i++) {
        if (gen.uniform() < 1 / 6) continue;
        const t = pick(T);
        if (inGroup.has(t) || used[t] >= M) continue;
        inGroup.add(t);
        qRow[(bh * G + g) * Q + i] = t;
        slot[(bh * T + t) * M + used[t]++] = g * Q + i;
      }
      const keys = new Set<number>();
      const first = [...inGroup][0];
      if (first !== undefined && gen.uniform() < 0.7) keys.add(s.qStart + first); // a self key
      for (let j = 0; j < K; j++) if (gen.uniform() > 1 / 6) keys.add(pick(Lk));
      [...keys].slice(0, K).forEach((r, j) => (kRow[(bh * G + g) * K + j] = r));
    }
  }
  let bias: Tensor | null = null;
  if (s.bias) {
    // key padding (B, 1, 1, Lk): 0 or -Infinity, plus small values
    const b = randn([B, 1, 1, Lk], gen);
    for (let i = 0; i < b.size; i++) b.f32[i] = gen.uniform() < 0.15 ? -Infinity : 0.3 * b.f32[i];
    bias = b;
  }
  const { causal, qStart, flagSelf, combine } = s;
  return { B, H, G, Q, K, T, M, qRow, kRow, slot, combine, causal, qStart, flagSelf, bias };
}

/** Out and the gradients of q, k, v of `f` under the loss sum(out * w). */
function run(
  f: (q: Tensor, k: Tensor, v: Tensor) => Tensor,
  s: PlanSpec,
  seed: number,
): Float32Array[] {
  const D = 4;
  const gen = new Generator(seed);
  const q = randn([s.B, s.H, s.T, D], gen).requiresGrad_(true);
  const k = randn([s.B, s.H, s.Lk, D], gen).requiresGrad_(true);
  const v = randn([s.B, s.H, s.Lk, D], gen).requiresGrad_(true);
  const out = f(q, k, v);
  const w = randn(out.shape, gen);
  F.sum(F.mul(out, w)).backward();
  return [out.f32, q.grad!.f32, k.grad!.f32, v.grad!.f32];
}

const BASE: PlanSpec = {
  B: 2,
  H: 2,
  T: 7,
  Lk: 7,
  G: 5,
  Q: 3,
  K: 5,
  M: 2,
  causal: false,
  qStart: 0,
  flagSelf: false,
  combine: 'lse',
  bias: false,
};

const CASES: [string, Partial<PlanSpec>][] = [
  ['lse, 2 slots per query', {}],
  ['lse, causal, shared-QK self score', { causal: true, flagSelf: true }],
  [
    'lse, causal after a cache of 3 positions, self, key bias',
    {
      causal: true,
      flagSelf: true,
      Lk: 10,
      qStart: 3,
      bias: true,
    },
  ],
  ['mean (routing), key bias', { combine: 'mean', bias: true, M: 3 }],
  ['mean, causal, one slot per query', { combine: 'mean', causal: true, M: 1 }],
  ['lse, one slot per query, 4 rounds of small groups', { M: 1, G: 9, Q: 2, K: 3 }],
];

for (const name of backends) {
  describe(`gathered attention, fused vs composed (${name} backend)`, () => {
    test.beforeEach(() => setBackend(name));

    for (const [label, over] of CASES)
      for (const dropoutP of [0, 0.25])
        test(`${label}${dropoutP ? ', dropout 0.25' : ''}`, () => {
          const s = { ...BASE, ...over };
          for (const seed of [1, 2, 3]) {
            const plan = randomPlan(s, seed);
            const opts = (): {
              dropoutP: number;
              generator: Generator;
              needWeights: boolean;
              S: number;
            } => ({ dropoutP, generator: new Generator(40 + seed), needWeights: false, S: s.Lk });
            const fused = run((q, k, v) => gatheredAttention(plan, q, k, v, opts()).out, s, seed);
            const ref = run(
              (q, k, v) => composedGatheredAttention(plan, q, k, v, opts()).out,
              s,
              seed,
            );
            ['out', 'dq', 'dk', 'dv'].forEach((what, i) =>
              assertClose(fused[i], ref[i], 1e-5, 1e-5, `${what} (seed ${seed})`),
            );
          }
        });

    test('q, k and v one tensor: the three gradients add up, as composed', () => {
      const s = { ...BASE, causal: true, flagSelf: true };
      const plan = randomPlan(s, 8);
      const opts = { dropoutP: 0, generator: new Generator(1), needWeights: false, S: s.Lk };
      const grad = (f: typeof gatheredAttention): Float32Array[] => {
        const x = randn([s.B, s.H, s.T, 4], new Generator(9)).requiresGrad_(true);
        const out = f(plan, x, x, x, opts).out;
        F.sum(F.mul(out, randn(out.shape, new Generator(10)))).backward();
        return [out.f32, x.grad!.f32];
      };
      const [a, b] = [grad(gatheredAttention), grad(composedGatheredAttention)];
      assertClose(a[0], b[0], 1e-5, 1e-5, 'out');
      assertClose(a[1], b[1], 1e-5, 1e-5, 'dx');
    });

    test('a NaN in a query row gives NaN there (both combinations), as composed', () => {
      for (const combine of ['lse', 'mean'] as const) {
        const s = { ...BASE, combine };
        const plan = randomPlan(s, 4);
        const gen = new Generator(2);
        const q = randn([s.B, s.H, s.T, 4], gen);
        q.f32[3 * 4 + 1] = NaN; // query 3 of head (0, 0)
        const k = randn([s.B, s.H, s.Lk, 4], gen);
        const opts = { dropoutP: 0, generator: gen, needWeights: false, S: s.Lk };
        const a = gatheredAttention(plan, q, k, k, opts).out.f32;
        const b = composedGatheredAttention(plan, q, k, k, opts).out.f32;
        for (let i = 0; i < a.length; i++)
          if (Number.isNaN(b[i])) assert.ok(Number.isNaN(a[i]), `${combine}: element ${i} NaN`);
          else
            assert.ok(
              Math.abs(a[i] - b[i]) <= 1e-5,
              `${combine}: element ${i}: ${a[i]} vs ${b[i]}`,
            );
        assert.ok(
          b.some((x) => Number.isNaN(x)),
          'the NaN reaches the output',
        );
      }
    });

    test('a bias that varies over queries takes the composed path, with the same result', () => {
      const s = { ...BASE, bias: false };
      const plan0 = randomPlan(s, 5);
      const plan = { ...plan0, bias: randn([1, 1, s.T, s.Lk], new Generator(6)) };
      const opts = { dropoutP: 0, generator: new Generator(1), needWeights: false, S: s.Lk };
      const a = run((q, k, v) => gatheredAttention(plan, q, k, v, opts).out, s, 5);
      const b = run((q, k, v) => composedGatheredAttention(plan, q, k, v, opts).out, s, 5);
      a.forEach((x, i) => assertClose(x, b[i], 1e-6, 1e-6));
    });
  });
}

describe('gathered attention kernels', () => {
  test('native equals js on a pool-sized plan (forward and backward)', (t) => {
    if (!availableBackends().includes('native')) return t.skip('native backend not built');
    const s: PlanSpec = {
      ...BASE,
      B: 2,
      H: 3,
      T: 300,
      Lk: 300,
      G: 40,
      Q: 16,
      K: 24,
      M: 2,
      causal: true,
      flagSelf: true,
      bias: true,
    };
    for (const combine of ['lse', 'mean'] as const) {
      const plan = randomPlan({ ...s, combine }, 11);
      const opts = { dropoutP: 0.1, generator: new Generator(3), needWeights: false, S: s.Lk };
      const res = (['js', 'native'] as const).map((be) => {
        setBackend(be);
        return run(
          (q, k, v) =>
            gatheredAttention(plan, q, k, v, { ...opts, generator: new Generator(3) }).out,
          s,
          11,
        );
      });
      ['out', 'dq', 'dk', 'dv'].forEach((what, i) =>
        assertClose(res[1][i], res[0][i], 1e-5, 1e-5, `${combine}: ${what}`),
      );
    }
  });

  for (const name of backends)
    test(`bad plans are refused (${name})`, () => {
      setBackend(name);
      const s = BASE;
      const plan = randomPlan(s, 1);
      const q = randn([2, 2, 7, 4], new Generator(1));
      const rules = { causal: false, qStart: 0, flagSelf: false, mean: false, bias: null };
      assert.throws(
        () => F.gatheredAttentionOp(q, randn([2, 2, 7, 3], new Generator(2)), q, plan, rules),
        /gatheredAttention: q \(2, 2, 7, 4\), k \(2, 2, 7, 3\)/,
      );
      assert.throws(
        () => F.gatheredAttentionOp(randn([2, 2, 8, 4], new Generator(3)), q, q, plan, rules),
        /do not fit a plan/,
        'q must have T rows',
      );
      if (name !== 'native') return;
      const bad = { ...plan, kRow: plan.kRow.slice() };
      bad.kRow[3] = 7; // a key row past Lk
      assert.throws(() => F.gatheredAttentionOp(q, q, q, bad, rules), /kRow\[3\] = 7 is outside/);
      // A query naming a slot that holds another query; a filled slot no query names.
      const named = plan.slot.findIndex((x) => x >= 0);
      const wrong = { ...plan, slot: plan.slot.slice() };
      wrong.slot[named + plan.M] = wrong.slot[named]; // the next query names it too
      assert.throws(() => F.gatheredAttentionOp(q, q, q, wrong, rules), /slot and qRow disagree/);
      const unnamed = { ...plan, slot: plan.slot.slice() };
      unnamed.slot[named] = -1;
      assert.throws(() => F.gatheredAttentionOp(q, q, q, unnamed, rules), /in no query's slots/);
      const out = new Float32Array(1);
      assert.throws(
        () =>
          backend().gatheredAttentionForward(
            out,
            out,
            out,
            out,
            q.f32,
            q.f32,
            q.f32,
            plan.qRow,
            plan.kRow,
            plan.slot,
            null,
            null,
            { ...plan, BH: 4, Lq: 7, Lk: 7, D: 4, scale: 1, mean: false },
          ),
        /out has 1 elements/,
      );
      const huge = { ...plan, BH: 2 ** 21, G: 2 ** 21, Q: 2 ** 22, K: 0, T: 0, M: 0 };
      const none = new Int32Array(0);
      assert.throws(
        () =>
          backend().gatheredAttentionForward(
            out,
            out,
            out,
            out,
            out,
            out,
            out,
            none,
            none,
            none,
            null,
            null,
            { ...huge, Lq: 0, Lk: 0, D: 1, scale: 1, mean: false },
          ),
        /sizes overflow/,
      );
    });
});

describe("lshBuckets: Reformer's h(x) = argmax([xR; -xR])", () => {
  const loaded = loadNativeBackend();
  const native: Backend | null = 'backend' in loaded ? loaded.backend : null;
  test(
    'native equals js on random projections with ties, a NaN and a by-hand row; a short array is refused',
    { skip: !native },
    () => {
      const [BH, L, R, half] = [3, 17, 2, 4];
      const gen = new Generator(5);
      // Rounded to a few values so that ties occur; one NaN.
      const proj = Float32Array.from(
        randn([BH * L * R * half], gen).f32,
        (v) => Math.round(v * 2) / 2,
      );
      proj[7] = NaN;
      // by hand, row (bh 1, l 2), round 1: p = [0.5, -2, 1, -2]: -p's largest (2, first at 1) wins
      const p0 = ((1 * L + 2) * R + 1) * half;
      proj.set([0.5, -2, 1, -2], p0);
      const [a, b] = [new Int32Array(BH * R * L), new Int32Array(BH * R * L)];
      js.lshBuckets(a, proj, BH, L, R, half);
      native!.lshBuckets(b, proj, BH, L, R, half);
      assert.deepEqual(b, a);
      assert.equal(a[(1 * R + 1) * L + 2], half + 1);
      for (const z of a) assert.ok(z >= 0 && z < 2 * half);
      assert.throws(
        () => native!.lshBuckets(new Int32Array(BH * R * L - 1), proj, BH, L, R, half),
        /out/,
      );
    },
  );
});
