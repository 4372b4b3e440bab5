/**
 * The gradient table's metadata (src/ops/gradients.ts `GradMeta`) is a promise autograd's
 * buffer policy relies on, checked here against the rule it describes on every backend:
 * a rule that `overwrites` writes every element of a fresh buffer (handed to it unzeroed,
 * here NaN-filled), and a `passThrough` node's rule gives each input exactly `g`.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { backend, setBackend } from '../../src/backend/index.js';
import { gradients, overwritesInput, type GradRule } from '../../src/ops/gradients.js';
import * as F from '../../src/ops/index.js';
import type { OpName } from '../../src/ops/spec.js';
import { Generator } from '../../src/random.js';
import { Tensor, randn, type GradNode } from '../../src/tensor.js';
import { assertClose, backends } from '../helpers.js';

const leaf = (shape: number[], seed: number): Tensor =>
  randn(shape, new Generator(seed)).requiresGrad_();

/** The first node of op `op` on the tape behind `t`. @throws if there is none. */
function findNode(t: Tensor, op: OpName): GradNode {
  const stack = [t];
  const seen = new Set<Tensor>();
  while (stack.length > 0) {
    const u = stack.pop()!;
    if (seen.has(u) || !u.node) continue;
    seen.add(u);
    if (u.node.op === op) return u.node;
    for (const inp of u.node.inputs) if (inp) stack.push(inp);
  }
  throw new Error(`no ${op} node`);
}

/**
 * Runs the rule of `node` on output gradient `g` as autograd would hand it buffers: one per
 * distinct input tensor; with `fresh`, an input the metadata says the rule overwrites gets
 * a NaN-filled buffer marked fresh (else all start at zero). Returns each input's gradient.
 */
function runRule(node: GradNode, g: Float32Array, fresh: boolean): (Float32Array | null)[] {
  const rule = gradients[node.op] as GradRule;
  const bufs = new Map<Tensor, Float32Array>();
  const freshFlags = node.inputs.map(() => false);
  const gi = node.inputs.map((inp, i) => {
    if (!inp) return null;
    let b = bufs.get(inp);
    if (!b) {
      b = new Float32Array(inp.size);
      if (fresh && overwritesInput(rule, node, i)) {
        b.fill(NaN);
        freshFlags[i] = true;
      }
      bufs.set(inp, b);
    }
    return b;
  });
  rule(node, g, gi, freshFlags);
  backend().drain(); // a linear rule's dweight GEMM may be queued
  return gi;
}

/** Nodes of every op whose rule declares `overwrites`, with the inputs it overwrites. */
function overwritingCases(): { what: string; node: GradNode; overwritten: number[] }[] {
  const [B, T, H, D] = [2, 5, 3, 4];
  const C = H * D;
  const qkv = leaf([B, T, 3 * C], 10);
  const packed = F.multiHeadAttention(
    qkv,
    qkv,
    qkv,
    H,
    D,
    { q: 0, k: C, v: 2 * C },
    {
      causal: true,
    },
  ).out;
  const x = leaf([B, T, C], 11);
  const mem = leaf([B, 7, C], 12);
  const cross = F.multiHeadAttention(x, mem, mem, H, D, {}, {}).out;
  const logits = leaf([6, 9], 13);
  const targets = new Tensor(Int32Array.from([0, 3, -100, 8, 2, 2]), [6]);
  const sq = leaf([4, 4], 14);
  return [
    {
      what: 'linear',
      node: F.linear(leaf([5, 7], 1), leaf([4, 7], 2), leaf([4], 3)).node!,
      overwritten: [0, 1, 2],
    },
    {
      what: 'linear over a row range',
      node: F.linear(leaf([5, 7], 4), leaf([6, 7], 5), leaf([6], 6), [1, 4]).node!,
      overwritten: [0, 1, 2],
    },
    {
      what: 'linear(x, x): a repeated input accumulates',
      node: F.linear(sq, sq).node!,
      overwritten: [],
    },
    ...['gelu', 'tanh', 'relu', 'exp'].map((op) => ({
      what: `unary ${op}`,
      node: (F as unknown as Record<string, (t: Tensor) => Tensor>)[op](leaf([3, 50], 7)).node!,
      overwritten: [0],
    })),
    {
      what: 'layerNorm',
      node: F.layerNorm(leaf([6, 10], 8), leaf([10], 9), leaf([10], 15)).node!,
      overwritten: [0, 1, 2],
    },
    {
      what: 'crossEntropy (ignored row, label smoothing)',
      node: findNode(F.crossEntropy(logits, targets, { labelSmoothing: 0.1 }), 'crossEntropy'),
      overwritten: [0],
    },
    { what: 'packed self-attention', node: packed.node!, overwritten: [0] },
    { what: 'cross-attention (not packed)', node: findNode(cross, 'attention'), overwritten: [] },
    {
      what: 'tiled packed self-attention',
      node: F.multiHeadAttention(qkv, qkv, qkv, H, D, { q: 0, k: C, v: 2 * C }, { tiled: true }).out
        .node!,
      overwritten: [0],
    },
    {
      what: 'tiled cross-attention (not packed)',
      node: F.multiHeadAttention(x, mem, mem, H, D, {}, { tiled: true }).out.node!,
      overwritten: [],
    },
  ];
}

for (const name of backends) {
  describe(`gradient table metadata (${name} backend)`, () => {
    test.beforeEach(() => setBackend(name));

    test('a rule that overwrites fresh buffers writes all of them, as if they were zeroed', () => {
      const cases = overwritingCases();
      for (const { what, node, overwritten } of cases) {
        const rule = gradients[node.op] as GradRule;
        const declared = node.inputs.flatMap((inp, i) =>
          inp && node.inputs.indexOf(inp) === i && overwritesInput(rule, node, i) ? [i] : [],
        );
        assert.deepEqual(declared, overwritten, `${what}: inputs handed fresh buffers`);
        const g = randn(node.out.shape, new Generator(20)).f32;
        const want = runRule(node, g, false);
        const got = runRule(node, g, true);
        got.forEach((b, i) => {
          if (b && want[i]) assertClose(b, want[i]!, 0, 0, `${what}: input ${i}`);
        });
      }
      // Every op declaring `overwrites` is covered above.
      const ops = Object.keys(gradients).filter((op) => gradients[op as OpName].overwrites);
      assert.deepEqual(
        [...new Set(cases.map((c) => c.node.op))].sort(),
        ops.sort(),
        'cases cover every overwriting rule',
      );
    });

    test('pass-through nodes: the rule gives every input exactly g; other nodes are not pass-through', () => {
      const a = leaf([3, 4], 1);
      const b = leaf([3, 4], 2);
      const row = leaf([4], 3);
      const passing = [F.reshape(a, [2, 6]), F.add(a, b), F.add(a, a)];
      const notPassing = [F.add(a, row), F.sub(a, b), F.mul(a, b), F.add(a, 1)];
      for (const t of passing) {
        const node = t.node!;
        const rule = gradients[node.op] as GradRule;
        assert.equal(rule.passThrough?.(node, t.size), true, `${node.op} passes through`);
        const g = randn(t.shape, new Generator(4)).f32;
        const gi = node.inputs.map((inp) => new Float32Array(inp!.size));
        rule(
          node,
          g,
          gi,
          gi.map(() => false),
        );
        // For x + x both slots are one tensor's: each gets g (autograd adds them).
        for (const d of gi) assert.deepEqual(d, g);
      }
      for (const t of notPassing) {
        const rule = gradients[t.node!.op] as GradRule;
        assert.notEqual(rule.passThrough?.(t.node!, t.size), true, `${t.node!.op} does not`);
      }
      const ops = Object.keys(gradients).filter((op) => gradients[op as OpName].passThrough);
      assert.deepEqual(ops.sort(), ['binary', 'reshape']);
    });
  });
}
