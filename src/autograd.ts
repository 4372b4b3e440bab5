/**
 * Reverse-mode automatic differentiation: a tape of `GradNode`s and one gradient table
 * keyed by op name (`gradients` in ops/gradients.ts, an exhaustive mapped type over
 * `OpName`, so an op without a gradient is a compile error).
 *
 * Gradient buffers follow the kernels' convention: the gradient function of an op
 * ACCUMULATES (+=) into the zero-initialised gradient buffers of its inputs (unless its
 * metadata says it overwrites a fresh one). `backward` is only the walk of the tape, as
 * tinygrad's `compute_gradient`; buffer ownership, allocation and deferred-kernel hazards
 * are `GradBuffers`' (autograd/buffers.ts), per-op facts the rule table's metadata.
 */
import { GradBuffers } from './autograd/buffers.js';
import { gradients, overwritesInput, type GradRule } from './ops/gradients.js';
import type { OpName, OpAttrs } from './ops/spec.js';
import { fmtShape, setBackwardPass, uninitF32, type GradNode, type Tensor } from './tensor.js';

export type { GradNode } from './tensor.js';

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

/** Tensors reachable from `root` through recorded nodes, consumers before their inputs. */
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
  const bufs = new GradBuffers(root, seedGradient(root, grad));
  try {
    for (const t of topoOrder(root)) {
      if (!bufs.has(t)) continue;
      const node = t.node;
      if (!node) {
        bufs.leaf(t);
        continue;
      }
      const out = bufs.output(t);
      const rule = gradients[node.op] as GradRule;
      if (rule.passThrough?.(node, out.buf.length)) {
        bufs.passThrough(out, node.inputs);
        continue;
      }
      const [gi, fresh] = bufs.inputGrads(node.inputs, (i) => overwritesInput(rule, node, i));
      const deferredInto = rule(node, out.buf, gi, fresh);
      bufs.consumed(out, deferredInto || null);
    }
  } finally {
    bufs.drain(); // always: a queued kernel must not outlive the buffers it uses
  }
  bufs.finishLateLeaves();
  GradBuffers.dropReleased();
}

setBackwardPass(backward);

/** The gradient backward starts from: a copy of `grad`, or 1 for a one-element root. */
function seedGradient(root: Tensor, grad?: Tensor): Float32Array {
  if (!root.requiresGrad) {
    throw new Error(
      'backward(): tensor does not require grad (was it computed under noGrad, or from inputs that do not require grad?)',
    );
  }
  if (grad) {
    if (grad.size !== root.size) {
      throw new Error(
        `backward(): grad shape ${fmtShape(grad.shape)} does not match tensor shape ${fmtShape(root.shape)}`,
      );
    }
    const g = uninitF32(root.size); // the arena's in a step; set() converts another dtype
    g.set(grad.data);
    return g;
  }
  if (root.size !== 1) {
    throw new Error(
      `backward(): grad can be implicitly created only for scalar outputs, got shape ${fmtShape(root.shape)}`,
    );
  }
  return new Float32Array([1]);
}
