/**
 * Tiled full attention (FlashAttention, Dao et al. 2022; src/ops/tiled-attention.ts) against
 * today's fused kernel and the readable Eq. 1 reference, on every backend: outputs and the
 * gradients of q, k and v within 1e-5 on sizes that are not multiples of the tiles (64
 * queries x 256 keys natively, 256-key blocks in js), cross-attention (S != T), causal with
 * positive and negative offsets, key padding, fully masked rows and dropout (the same
 * counter-based mask). Small shapes run it through `tiled: true`. And a memory test: the
 * peak RSS of a tiled forward + backward at T 4096 (single head) grows by far less than one
 * (T, T) score matrix, measured in a child process (tiled-rss.fixture.ts).
 *
 * Shape letters: B batch, H heads, T queries, S keys, D head width.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { setBackend } from '../../src/backend/index.js';
import { Generator } from '../../src/random.js';
import { Tensor, randn, zeros } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import {
  attention,
  createAttentionCore,
  headsToBHLD,
  mergeHeads,
} from '../../src/attention/index.js';
import type { FullAttention } from '../../src/attention/full.js';
import { AlibiPosition, T5Position } from '../../src/attention/positions.js';
import { backends, maxAbsDiff } from '../helpers.js';
import { packedInput } from './xformer-helpers.js';

const H = 2;
const D = 5;
const HD = H * D;

/** One attention case: sizes, causal, the key padding per batch row, dropout. */
interface Case {
  what: string;
  B: number;
  T: number;
  S: number;
  causal?: boolean;
  pad?: number[];
  p?: number;
  /** ALiBi (Press et al. 2022), queries at S - T ..: the kernels read its diagonals (a
   * negative mask stride); the reference adds it dense. */
  alibi?: boolean;
}

type Path = 'tiled' | 'fused' | 'reference';

/** A key padding bias (B, 1, 1, S): -Infinity on the last `pad[b]` keys of batch row b. */
function padBias(B: number, S: number, pad: number[]): Tensor {
  const m = zeros([B, 1, 1, S]);
  for (let b = 0; b < B; b++) for (let s = S - pad[b]; s < S; s++) m.f32[b * S + s] = -Infinity;
  return m;
}

/**
 * The dense reference attention (src/attention/reference.ts) on q (B, T, H*D) and a packed
 * key-value projection (B, S, 2 H*D): out (B, T, H*D).
 */
function denseReference(q: Tensor, kv: Tensor, opts: Parameters<typeof attention>[3]): Tensor {
  const [q4, k4, v4] = [
    headsToBHLD({ x: q, col: 0 }, H, D),
    headsToBHLD({ x: kv, col: 0 }, H, D),
    headsToBHLD({ x: kv, col: HD }, H, D),
  ];
  return mergeHeads(attention(q4, k4, v4, opts).out);
}

/**
 * out (B, T, H*D) of one path on q (B, T, H*D) and a key-value projection (B, S, 2 H*D),
 * and the gradients of sum(out * w) w.r.t. q and kv.
 */
function run(path: Path, c: Case): { out: Float32Array; dq: Float32Array; dkv: Float32Array } {
  const q = new Tensor(randn([c.B, c.T, HD], new Generator(1)).f32, [c.B, c.T, HD]);
  const kv = new Tensor(randn([c.B, c.S, 2 * HD], new Generator(2)).f32, [c.B, c.S, 2 * HD]);
  q.requiresGrad_(true);
  kv.requiresGrad_(true);
  const mask = c.pad ? padBias(c.B, c.S, c.pad) : null;
  const opts = { causal: c.causal ?? false, dropoutP: c.p ?? 0, generator: new Generator(5) };
  const heads = { x: q, col: 0 };
  const relativeBias = c.alibi
    ? new AlibiPosition(H, D).apply({
        q: heads,
        k: heads,
        qStart: c.S - c.T,
        kStart: 0,
        S: c.S,
        causal: false,
      }).relativeBias!
    : null;
  let out: Tensor;
  if (path === 'reference') {
    const bias = relativeBias ? F.relativeBiasDense(relativeBias) : mask;
    out = denseReference(q, kv, { ...opts, bias });
  } else {
    const cols = { q: 0, k: 0, v: HD };
    const tiled = path === 'tiled';
    out = F.multiHeadAttention(q, kv, kv, H, D, cols, { ...opts, mask, relativeBias, tiled }).out;
  }
  F.sum(F.mul(out, randn(out.shape, new Generator(9)))).backward();
  return { out: out.f32.slice(), dq: q.grad!.f32.slice(), dkv: kv.grad!.f32.slice() };
}

/** Asserts that two runs agree within tol in out, dq and dkv. */
function assertSame(a: ReturnType<typeof run>, b: ReturnType<typeof run>, what: string): void {
  for (const key of ['out', 'dq', 'dkv'] as const) {
    const d = maxAbsDiff(a[key], b[key]);
    assert.ok(d < 1e-5, `${what}: ${key} differs by ${d}`);
  }
}

const cases: Case[] = [
  { what: 'cross-attention T 70, S 300', B: 2, T: 70, S: 300 },
  { what: 'causal self-attention T = S = 300', B: 1, T: 300, S: 300, causal: true },
  { what: 'causal, offset 170 (T 130, S 300)', B: 1, T: 130, S: 300, causal: true },
  {
    what: 'causal, offset -100 (T 300, S 200): rows without keys',
    B: 1,
    T: 300,
    S: 200,
    causal: true,
  },
  { what: 'key padding, batch row 1 fully masked', B: 2, T: 67, S: 290, pad: [31, 290] },
  { what: 'key padding and causal', B: 2, T: 129, S: 129, causal: true, pad: [0, 60] },
  { what: 'ALiBi by its diagonals, B 2, T = S = 150', B: 2, T: 150, S: 150, alibi: true },
  {
    what: 'ALiBi, causal, offset 170 (T 130, S 300)',
    B: 1,
    T: 130,
    S: 300,
    causal: true,
    alibi: true,
  },
  // Head 0's slope 1/4 over distances up to 599: weights from 1 down to e^-150, so the
  // native kernels' products and dS below float's normal range are flushed to 0 (ftz.h)
  // where the reference keeps them.
  { what: 'ALiBi with weights below e^-80, T = S = 600', B: 1, T: 600, S: 600, alibi: true },
];

for (const backendName of backends) {
  describe(`tiled full attention (${backendName} backend)`, () => {
    test.beforeEach(() => setBackend(backendName));

    for (const c of cases) {
      test(`${c.what}: tiled equals the fused kernel and Eq. 1 (out, dq, dk, dv)`, () => {
        const tiled = run('tiled', c);
        assertSame(tiled, run('fused', c), `${c.what} vs fused`);
        assertSame(tiled, run('reference', c), `${c.what} vs reference`);
        if (c.pad?.some((n) => n === c.S)) {
          // The fully masked batch row: out 0 and no gradient to its queries.
          const row = tiled.out.subarray(c.T * HD);
          assert.ok(row.every((x) => x === 0) && tiled.dq.subarray(c.T * HD).every((x) => x === 0));
        }
      });
    }

    test("T5's learned diagonals: the tiled kernel's mask gradient gives the table's gradient of the dense reference (cross, causal offsets, B 2)", () => {
      for (const [T, S, causal] of [
        [70, 300, false],
        [130, 300, true],
        [150, 150, true],
      ] as const) {
        const t5 = new T5Position(H, D, 8, 64, new Generator(12));
        const grads = (path: 'tiled' | 'reference'): Float32Array[] => {
          t5.weight.grad = null;
          const q = randn([2, T, HD], new Generator(1)).requiresGrad_(true);
          const kv = randn([2, S, 2 * HD], new Generator(2)).requiresGrad_(true);
          const heads = { x: q, col: 0 };
          const r = t5.apply({
            q: heads,
            k: heads,
            qStart: S - T,
            kStart: 0,
            S,
            causal,
          }).relativeBias!;
          let out: Tensor;
          if (path === 'reference') {
            out = denseReference(q, kv, { causal, bias: F.relativeBiasDense(r) });
          } else {
            const cols = { q: 0, k: 0, v: HD };
            out = F.multiHeadAttention(q, kv, kv, H, D, cols, { causal, relativeBias: r }).out;
            assert.equal(out.node?.op, 'tiledAttention', 'a learned relative bias runs tiled');
          }
          F.sum(F.mul(out, randn(out.shape, new Generator(9)))).backward();
          return [
            out.f32.slice(),
            q.grad!.f32.slice(),
            kv.grad!.f32.slice(),
            t5.weight.grad!.f32.slice(),
          ];
        };
        const [a, b] = [grads('tiled'), grads('reference')];
        ['out', 'dq', 'dkv', 'd table'].forEach((what, i) =>
          assert.ok(
            maxAbsDiff(a[i], b[i]) < 1e-5,
            `T ${T} S ${S}: ${what} ${maxAbsDiff(a[i], b[i])}`,
          ),
        );
        assert.ok(
          b[3].some((v) => Math.abs(v) > 1e-3),
          'the table gets a gradient',
        );
      }
      // On (B, H, T, D) heads (scaledDotProductAttention: the layout's H is 1, the table's 2).
      const t5 = new T5Position(H, D, 8, 64, new Generator(13));
      const table = (dense: boolean): Float32Array[] => {
        t5.weight.grad = null;
        const [q4, k4, v4] = [14, 15, 16].map((s) =>
          randn([2, H, 40, D], new Generator(s)).requiresGrad_(true),
        );
        const heads = { x: randn([2, 40, HD]), col: 0 };
        const r = t5.apply({
          q: heads,
          k: heads,
          qStart: 0,
          kStart: 0,
          S: 40,
          causal: true,
        }).relativeBias!;
        const out = dense
          ? attention(q4, k4, v4, { causal: true, bias: F.relativeBiasDense(r) }).out
          : F.scaledDotProductAttention(q4, k4, v4, { causal: true, relativeBias: r }).out;
        F.sum(F.mul(out, randn(out.shape, new Generator(17)))).backward();
        return [out.f32.slice(), q4.grad!.f32.slice(), t5.weight.grad!.f32.slice()];
      };
      const [c, d] = [table(false), table(true)];
      ['out', 'dq', 'd table'].forEach((what, i) =>
        assert.ok(maxAbsDiff(c[i], d[i]) < 1e-5, `(B, H, T, D): ${what} ${maxAbsDiff(c[i], d[i])}`),
      );
    });

    test('dropout: tiled regenerates the fused kernel mask (same generator, same result)', () => {
      for (const c of [
        { what: 'dropout 0.3, T 70, S 300', B: 2, T: 70, S: 300, p: 0.3 },
        { what: 'dropout 0.2, causal T = S = 300', B: 1, T: 300, S: 300, causal: true, p: 0.2 },
      ]) {
        const tiled = run('tiled', c);
        assertSame(tiled, run('fused', c), c.what);
        // The mask changed the result (so the comparison above could fail).
        assert.ok(maxAbsDiff(tiled.out, run('tiled', { ...c, p: 0 }).out) > 1e-2, c.what);
      }
    });

    test('the full core forced tiled equals it fused; small scores stay on the fused op', () => {
      const core = createAttentionCore('full', { numHeads: H, headDim: D }) as FullAttention;
      const qkv = randn([2, 75, 3 * HD], new Generator(4)).requiresGrad_(true);
      const input = packedInput(qkv, HD, { causal: true });
      // Packed q, k, v of one tensor: the backward overwrites a fresh gradient buffer.
      const grads = (tiled: boolean): [Tensor, Float32Array] => {
        core.tiled = tiled;
        qkv.grad = null;
        const out = core.forward(input).out;
        F.sum(F.mul(out, randn(out.shape, new Generator(8)))).backward();
        return [out, qkv.grad!.f32.slice()];
      };
      const [a, ga] = grads(true);
      assert.equal(a.node?.op, 'tiledAttention');
      const [b, gb] = grads(false);
      assert.equal(b.node?.op, 'attention');
      assert.ok(maxAbsDiff(a.f32, b.f32) < 1e-5);
      assert.ok(maxAbsDiff(ga, gb) < 1e-5);
      core.tiled = undefined; // by size: 75 * 75 score entries per head
      assert.ok(75 * 75 < F.TILED_MIN_SCORES);
      assert.equal(core.forward(input).out.node?.op, 'attention');
    });
  });
}

/** attentionOverCache: the first S of R key/value rows (kvRows > S), tiled vs fused. */
function overCache(tiled: boolean): Float32Array {
  const q = randn([2, 3, 40, D], new Generator(1));
  const kBuf = randn([2, 3, 300, D], new Generator(2));
  const vBuf = randn([2, 3, 300, D], new Generator(3));
  return F.attentionOverCache(q, kBuf, vBuf, 270, { causal: true, tiled }).out.f32;
}

for (const backendName of backends) {
  test(`tiled attention over a growing cache (kvRows > S) equals the fused kernel (${backendName})`, () => {
    setBackend(backendName);
    assert.ok(maxAbsDiff(overCache(true), overCache(false)) < 1e-5);
  });
}

/** Peak RSS growth (bytes) of one tiled, then one fused forward + backward (the fixture). */
function peakGrowth(T: number): { tiled: number; fused: number } {
  const fixture = join(dirname(fileURLToPath(import.meta.url)), 'tiled-rss.fixture.ts');
  const r = spawnSync(process.execPath, ['--import', 'tsx', fixture, String(T)], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as { tiled: number; fused: number };
}

test("the native attention kernels' flush-to-zero does not leak into JavaScript's subnormals", () => {
  // FTZ | DAZ is set around the kernels' work and restored on the calling thread (ftz.h):
  // after a tiled forward + backward, a subnormal double and a subnormal float32 survive.
  for (const backendName of backends) {
    setBackend(backendName);
    run('tiled', { what: 'ALiBi', B: 1, T: 200, S: 200, alibi: true });
    run('fused', { what: 'ALiBi', B: 1, T: 40, S: 40, alibi: true });
    const tiny = Number.MIN_VALUE; // 5e-324
    assert.equal(tiny * 1, Number.MIN_VALUE, `${backendName}: a subnormal double`);
    assert.ok(Math.fround(1e-40) > 0, `${backendName}: a subnormal float32`);
    assert.ok(Float32Array.of(1e-40)[0] * 2 > 0, `${backendName}: subnormal float32 arithmetic`);
  }
});

describe('tiled full attention: memory', () => {
  test('T 4096, one head: the tiled forward + backward grows peak RSS by far less than one T x T matrix', (t) => {
    if (!backends.includes('native')) return t.skip('native backend not built');
    const T = 4096;
    const scores = T * T * 4; // bytes of one (T, T) float32 score matrix: 64 MB
    const { tiled, fused } = peakGrowth(T);
    // q, k, v, out, their gradients and the tiles: O(T D), a few MB at most.
    assert.ok(tiled < scores / 4, `tiled grew ${tiled} bytes, bound ${scores / 4}`);
    // The measurement sees a dense path: the fused kernel keeps the (T, T) weights.
    assert.ok(fused > scores, `fused grew ${fused} bytes, expected > ${scores}`);
  });
});
