import type { LayerNorm } from '../../src/nn/layers.js';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setBackend } from '../../src/backend/index.js';
import { Generator } from '../../src/random.js';
import { DecoderLM } from '../../src/models/decoder-lm.js';
import { generate } from '../../src/decode/generate.js';
import { argmaxRow, sampleToken } from '../../src/decode/sampling.js';
import { backends } from '../helpers.js';

const lm = () =>
  new DecoderLM(
    { vocabSize: 11, blockSize: 8, dModel: 16, nhead: 2, numLayers: 2, dropout: 0, initStd: 0.7 },
    new Generator(1),
  );

/**
 * A model whose logits favour the special ids 0..3 at every position: ln_f has weight 0 and
 * bias e_0, so logit v = wte[v, 0] (the head is tied): 10 for specials, v / 10 for the rest.
 */
function specialLover(): DecoderLM {
  const m = lm();
  const C = m.config.dModel;
  const ln = m.lnF as LayerNorm; // the default norm
  ln.weight!.f32.fill(0);
  ln.bias!.f32.fill(0);
  ln.bias!.f32[0] = 1;
  for (let v = 0; v < m.config.vocabSize; v++) m.wte.weight.f32[v * C] = v < 4 ? 10 : v / 10;
  return m;
}

for (const name of backends) {
  describe(`generation (${name} backend)`, () => {
    test.beforeEach(() => setBackend(name));

    test('greedy with the KV cache equals greedy without it, past the context length', () => {
      const m = lm();
      const a = generate(m, [1, 2, 3], { maxNewTokens: 20, temperature: 0 });
      const b = generate(m, [1, 2, 3], { maxNewTokens: 20, temperature: 0, useCache: false });
      assert.equal(a.length, 20);
      assert.deepEqual(a, b);
    });

    test('suppressed (special) tokens are never produced, greedy or sampled; eos stays allowed', () => {
      const m = specialLover();
      const specials = [0, 1, 2, 3];
      const isSpecial = (id: number) => specials.includes(id);
      // Without suppression the model says <pad> (id 0) every time.
      assert.deepEqual(generate(m, [5], { maxNewTokens: 4, temperature: 0 }), [0, 0, 0, 0]);
      const greedy = generate(m, [5], { maxNewTokens: 4, temperature: 0, suppressIds: specials });
      assert.deepEqual(greedy, [10, 10, 10, 10], 'the best non-special token');
      const g = new Generator(5);
      const free = generate(m, [5], { maxNewTokens: 40, temperature: 1, generator: g });
      assert.ok(free.filter(isSpecial).length > 30, 'unsuppressed sampling picks specials');
      for (const opts of [{}, { topK: 3 }, { topP: 0.5 }]) {
        const s = generate(m, [5], {
          maxNewTokens: 40,
          temperature: 1,
          generator: g,
          suppressIds: specials,
          ...opts,
        });
        assert.equal(s.filter(isSpecial).length, 0, JSON.stringify(opts));
      }
      // eosId is exempt from suppression so generation can stop.
      assert.deepEqual(
        generate(m, [5], { maxNewTokens: 4, temperature: 0, suppressIds: specials, eosId: 2 }),
        [2],
      );
      assert.throws(
        () => generate(m, [5], { maxNewTokens: 1, suppressIds: [11] }),
        /suppressIds holds 11, not a token id in \[0, 11\)/,
      );
    });

    test('sampling is reproducible with a seed, and top-k 1 is greedy', () => {
      const m = lm();
      const s1 = generate(m, [4], {
        maxNewTokens: 12,
        temperature: 20,
        generator: new Generator(7),
      });
      const s2 = generate(m, [4], {
        maxNewTokens: 12,
        temperature: 20,
        generator: new Generator(7),
      });
      assert.deepEqual(s1, s2);
      const greedy = generate(m, [4], { maxNewTokens: 12, temperature: 0 });
      assert.deepEqual(
        generate(m, [4], { maxNewTokens: 12, topK: 1, generator: new Generator(8) }),
        greedy,
      );
      assert.notDeepEqual(s1, greedy, 'high-temperature sampling should differ from greedy here');
    });
  });
}

test('sampleToken: top-k and top-p keep only the likely tokens; bad options are named', () => {
  const logits = [0, 5, 4.9, -3, 1];
  const g = new Generator(3);
  const seen = new Set<number>();
  for (let i = 0; i < 500; i++) seen.add(sampleToken(logits, g, { topK: 2 }));
  assert.deepEqual([...seen].sort(), [1, 2]);
  const seenP = new Set<number>();
  for (let i = 0; i < 500; i++) seenP.add(sampleToken(logits, g, { topP: 0.3 }));
  assert.deepEqual([...seenP], [1], 'the top token alone has mass >= 0.3');
  assert.equal(argmaxRow(logits), 1);
  assert.throws(() => sampleToken(logits, g, { topP: 0 }), /topP must be in \(0, 1\]/);
  assert.throws(() => sampleToken(logits, g, { temperature: -1 }), /temperature must be >= 0/);
});
