/** Shared test helpers: closeness assertions, finite-difference gradient checks, backends. */
import assert from 'node:assert/strict';
import { availableBackends, setBackend, type BackendName } from '../src/backend/index.js';
import { noGrad } from '../src/autograd.js';
import { Generator } from '../src/random.js';
import { Tensor, randn } from '../src/tensor.js';
import { mul, sum } from '../src/ops/index.js';

export const backends: BackendName[] = availableBackends();

/** Run `fn` for each backend that loads here, with that backend selected. */
export function eachBackend(fn: (name: BackendName) => void): void {
  for (const name of backends) {
    setBackend(name);
    fn(name);
  }
}

/** Largest |a - b| over two arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, `length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (Number.isNaN(d)) return Infinity;
    if (d > m) m = d;
  }
  return m;
}

/** Assert |a - b| <= atol + rtol * |b| element-wise, naming the first offender. */
export function assertClose(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  atol = 1e-5,
  rtol = 1e-5,
  what = 'values',
): void {
  assert.equal(a.length, b.length, `${what}: length ${a.length} vs ${b.length}`);
  for (let i = 0; i < a.length; i++) {
    const ok = Math.abs(a[i] - b[i]) <= atol + rtol * Math.abs(b[i]) || a[i] === b[i];
    if (!ok) {
      assert.fail(
        `${what}: element ${i}: ${a[i]} vs expected ${b[i]} (atol ${atol}, rtol ${rtol}); max abs diff ${maxAbsDiff(a, b)}`,
      );
    }
  }
}

/**
 * Check the gradients of `f` w.r.t. each float input against central finite differences.
 * The objective is sum(f(inputs) * w) for a fixed random w, so every output element
 * contributes with a different weight. Differences are taken in float32 with step `eps`.
 */
export function gradcheck(
  f: (...xs: Tensor[]) => Tensor,
  inputs: Tensor[],
  { eps = 1e-2, atol = 2e-3, rtol = 2e-2, seed = 7 } = {},
): void {
  for (const x of inputs) if (x.dtype === 'float32') x.requiresGrad_(true);
  const y0 = f(...inputs);
  const w = randn(y0.shape, new Generator(seed));
  const loss = sum(mul(y0, w));
  loss.backward();
  const objective = (): number => noGrad(() => sum(mul(f(...inputs), w)).item());
  inputs.forEach((x, k) => {
    if (x.dtype !== 'float32') return;
    const analytic = x.grad ? x.grad.f32 : new Float32Array(x.size);
    const d = x.f32;
    for (let i = 0; i < d.length; i++) {
      const orig = d[i];
      d[i] = orig + eps;
      const fp = objective();
      d[i] = orig - eps;
      const fm = objective();
      d[i] = orig;
      const numeric = (fp - fm) / (2 * eps);
      const err = Math.abs(analytic[i] - numeric);
      if (err > atol + rtol * Math.abs(numeric)) {
        assert.fail(
          `gradient of input ${k} element ${i}: analytic ${analytic[i]} vs numeric ${numeric} (|diff| ${err})`,
        );
      }
    }
    x.grad = null;
  });
}
