/**
 * No causal variant sees the future: for every registered attention variant with a causal
 * form, a tiny two-layer DecoderLM's logits at positions 0..t do not change when the tokens
 * after t change (each position may only depend on itself and the positions before it; the
 * causal mask of Vaswani et al. 2017, Sec. 3.2.3, whatever the pattern or approximation).
 * Two layers, so a leak through a relay, global or summary position reaches the output.
 *
 * B batch 1, T positions, V vocabulary.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { noGrad } from '../../src/autograd.js';
import { attentionVariants } from '../../src/attention/registry.js';
import { DecoderLM } from '../../src/models/decoder-lm.js';
import { Generator } from '../../src/random.js';
import { tensor } from '../../src/tensor.js';
import { eachBackend, maxAbsDiff } from '../helpers.js';
import { tinyLMConfig } from './xformer-helpers.js';

const T = 16;
const V = 11;

/** The variant's spec at its defaults, with a length parameter set to T. */
function specFor(name: string): string {
  const v = attentionVariants().find((x) => x.name === name)!;
  const len = v.params.find((p) => p.name === 'max-len' || p.name === 'maxLen');
  return len ? `${name}:${len.name}=${T}` : name;
}

test('causal variants: logits up to t do not depend on the tokens after t', () => {
  const causal = attentionVariants().filter((v) => v.causal);
  assert.ok(causal.length >= 10, `only ${causal.length} causal variants registered`);
  eachBackend((backend) => {
    for (const v of causal) {
      const lm = new DecoderLM(tinyLMConfig(specFor(v.name)), new Generator(3)).eval();
      const g = new Generator(4);
      const a = Array.from({ length: T }, () => g.randint(V));
      for (const t of [0, 5, 11]) {
        const b = a.map((x, i) => (i > t ? (x + 1 + g.randint(V - 1)) % V : x));
        const [la, lb] = noGrad(() => [
          lm.forward(tensor([a], undefined, 'int32')),
          lm.forward(tensor([b], undefined, 'int32')),
        ]);
        const n = (t + 1) * V; // logits of positions 0..t of the one batch row
        const past = maxAbsDiff(la.f32.subarray(0, n), lb.f32.subarray(0, n));
        assert.ok(past < 1e-5, `${backend} ${v.name}: positions <= ${t} moved by ${past}`);
        // The change is visible after t (the check could fail).
        const after = maxAbsDiff(la.f32.subarray(n), lb.f32.subarray(n));
        assert.ok(after > 1e-6, `${backend} ${v.name}: positions > ${t} did not change`);
      }
    }
  });
});
