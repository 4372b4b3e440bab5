/**
 * The fused recurrent cell (F.rnnCell: rnnCellForward / rnnCellBackward) against the
 * element-wise reference step (cellStepReference): outputs and every gradient, GRU and LSTM,
 * odd and pool-sized shapes, on every backend; and the native kernels against js's.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { jsBackend, setBackend, tryNativeBackend } from '../../src/backend/index.js';
import { Generator } from '../../src/random.js';
import { Tensor, randn } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import { cellStep, cellStepReference, type CellKind } from '../../src/rnn/recurrent.js';
import { backends, maxAbsDiff } from '../helpers.js';

function setup(kind: CellKind, B: number, I: number, H: number, seed: number) {
  const g = new Generator(seed);
  const G = kind === 'gru' ? 3 : 4;
  const mk = (shape: number[], scale = 1) => F.mul(randn(shape, g), scale).requiresGrad_(true);
  return {
    x: mk([B, I]),
    h: mk([B, H]),
    c: kind === 'lstm' ? mk([B, H]) : null,
    w: { wIh: mk([G * H, I], 0.5), wHh: mk([G * H, H], 0.5), bIh: mk([G * H]), bHh: mk([G * H]) },
    out: randn([B, 2 * H], g),
  };
}

type Step = typeof cellStep;

/** Outputs and gradients of sum(h * a) + sum(c * b) through one step. */
function run(step: Step, kind: CellKind, s: ReturnType<typeof setup>): Float32Array[] {
  const leaves = [s.x, s.h, ...(s.c ? [s.c] : []), s.w.wIh, s.w.wHh, s.w.bIh, s.w.bHh];
  for (const t of leaves) t.grad = null;
  const r = step(kind, F.linear(s.x, s.w.wIh, s.w.bIh), { h: s.h, c: s.c }, s.w);
  const H = s.h.shape[1];
  const a = F.slice(s.out, 1, 0, H);
  let loss = F.sum(F.mul(r.h, a));
  if (r.c) loss = F.add(loss, F.sum(F.mul(r.c, F.slice(s.out, 1, H, 2 * H))));
  loss.backward();
  return [
    r.h.f32.slice(),
    ...(r.c ? [r.c.f32.slice()] : []),
    ...leaves.map((t) => t.grad!.f32.slice()),
  ];
}

for (const backendName of backends) {
  describe(`fused recurrent cell (${backendName})`, () => {
    for (const kind of ['gru', 'lstm'] as CellKind[])
      for (const [B, I, H] of [
        [1, 1, 1],
        [3, 5, 7],
        [64, 16, 96],
      ])
        test(`${kind} B=${B} I=${I} H=${H}: outputs and gradients equal the element-wise step`, () => {
          setBackend(backendName);
          const s = setup(kind, B, I, H, B + H);
          const fused = run(cellStep, kind, s);
          const ref = run(cellStepReference, kind, s);
          assert.equal(fused.length, ref.length);
          fused.forEach((f, i) => {
            const d = maxAbsDiff(f, ref[i]);
            assert.ok(d < 2e-5, `tensor ${i}: max abs diff ${d}`);
          });
        });

    test('rnnCell refuses mismatched shapes, naming them', () => {
      setBackend(backendName);
      const t = (shape: number[]) =>
        new Tensor(new Float32Array(shape.reduce((a, b) => a * b)), shape);
      assert.throws(
        () => F.rnnCell('gru', t([2, 9]), t([2, 12]), t([2, 4])),
        /gi \(2, 9\) and gh \(2, 12\) must be \(2, 12\)/,
      );
    });
  });
}

test('native rnnCell kernels equal the js specification', (t) => {
  const native = tryNativeBackend();
  if (!native) return t.skip('native backend not built');
  for (const lstm of [false, true]) {
    const B = 37;
    const H = 33;
    const G = lstm ? 4 : 3;
    const g = new Generator(11);
    const r = (n: number) => Float32Array.from({ length: n }, () => g.normal() * 2);
    const gi = r(B * G * H);
    const gh = r(B * G * H);
    const prev = r(B * H);
    const dout = r(B * H * (lstm ? 2 : 1));
    const res = [jsBackend, native].map((k) => {
      const out = new Float32Array(B * H * (lstm ? 2 : 1));
      const saved = new Float32Array(B * H * (lstm ? 5 : 4));
      k.rnnCellForward(out, saved, gi, gh, prev, B, H, lstm);
      const dgi = new Float32Array(B * G * H).fill(0.5); // accumulates
      const dgh = new Float32Array(B * G * H);
      const dprev = new Float32Array(B * H);
      k.rnnCellBackward(dgi, dgh, dprev, dout, saved, prev, B, H, lstm);
      return [out, saved, dgi, dgh, dprev];
    });
    res[0].forEach((a, i) => assert.ok(maxAbsDiff(a, res[1][i]) < 1e-5, `lstm ${lstm} array ${i}`));
  }
});
