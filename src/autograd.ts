/**
 * Reverse-mode automatic differentiation: a tape of `GradNode`s and one gradient table
 * keyed by op name (`gradients` in ops/gradients.ts, an exhaustive mapped type over
 * `OpName`, so an op without a gradient is a compile error).
 *
 * Gradient buffers follow the kernels' convention: the gradient function of an op
 * ACCUMULATES (+=) into the zero-initialised gradient buffers of its inputs.
 */
import { gradients } from './ops/gradients.js';
import type { OpName, OpAttrs } from './ops/spec.js';
import { Tensor, fmtShape } from './tensor.js';

/** One recorded op: its name, inputs, output and the attributes its gradient needs. */
export interface GradNode<K extends OpName = OpName> {
  readonly op: K;
  readonly inputs: readonly (Tensor | null)[];
  readonly out: Tensor;
  readonly attrs: OpAttrs[K];
}

let gradEnabled = true;

/** Whether ops are currently recorded for backward. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/**
 * Run `fn` without recording ops (inference), like `torch.no_grad()`.
 * Restores the previous mode even if `fn` throws.
 */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/**
 * Record `out` as produced by op `op` from `inputs` when grad mode is on and any input
 * requires grad. Returns `out`.
 */
export function record<K extends OpName>(
  op: K,
  inputs: readonly (Tensor | null)[],
  out: Tensor,
  attrs: OpAttrs[K],
): Tensor {
  if (!gradEnabled) return out;
  let any = false;
  for (const t of inputs) if (t && t.requiresGrad) any = true;
  if (!any) return out;
  out.requiresGrad = true;
  out.node = { op, inputs, out, attrs } as GradNode;
  return out;
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative DFS (deep models would overflow a recursive one).
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const inputs = t.node ? t.node.inputs : [];
    if (i < inputs.length) {
      top[1]++;
      const c = inputs[i];
      if (c && c.requiresGrad && !seen.has(c)) {
        seen.add(c);
        stack.push([c, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order.reverse();
}

/**
 * Backpropagate from `root`. Called by `Tensor.backward()`.
 * @param grad gradient of the objective w.r.t. `root` (same shape); 1 if omitted and
 *   `root` has one element.
 * @throws Error if `root` does not require grad, or is not scalar and no grad is given.
 */
export function backward(root: Tensor, grad?: Tensor): void {
  if (!root.requiresGrad) {
    throw new Error(
      'backward(): tensor does not require grad (was it computed under noGrad, or from inputs that do not require grad?)',
    );
  }
  let g0: Float32Array;
  if (grad) {
    if (grad.size !== root.size) {
      throw new Error(
        `backward(): grad shape ${fmtShape(grad.shape)} does not match tensor shape ${fmtShape(root.shape)}`,
      );
    }
    g0 = Float32Array.from(grad.data);
  } else {
    if (root.size !== 1) {
      throw new Error(
        `backward(): grad can be implicitly created only for scalar outputs, got shape ${fmtShape(root.shape)}`,
      );
    }
    g0 = new Float32Array([1]);
  }
  const grads = new Map<Tensor, Float32Array>([[root, g0]]);
  for (const t of topoOrder(root)) {
    const g = grads.get(t);
    if (!g) continue;
    const node = t.node;
    if (!node) {
      // Leaf: accumulate into .grad.
      if (t.grad) {
        const d = t.grad.f32;
        for (let i = 0; i < d.length; i++) d[i] += g[i];
      } else {
        t.grad = new Tensor(g, t.shape);
      }
      continue;
    }
    grads.delete(t);
    const inGrads = node.inputs.map((inp) => {
      if (!inp || !inp.requiresGrad) return null;
      let buf = grads.get(inp);
      if (!buf) {
        buf = new Float32Array(inp.size);
        grads.set(inp, buf);
      }
      return buf;
    });
    const fn = gradients[node.op] as (
      n: GradNode,
      g: Float32Array,
      gi: (Float32Array | null)[],
    ) => void;
    fn(node, g, inGrads);
  }
}
