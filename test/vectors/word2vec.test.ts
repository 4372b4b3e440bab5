/**
 * Word2Vec (src/vectors, kernels word2vecTrain): the negative-sampling step against finite
 * differences of its loss, subsampling and the unigram^0.75 table against their formulas,
 * planted synonyms (two words in the same contexts) as each other's nearest neighbours for
 * Skip-gram and CBOW on every backend, the native kernel (one thread) against the js
 * specification, and the word2vec text / binary and safetensors files round-tripping.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setBackend, setNumThreads, tryNativeBackend } from '../../src/backend/index.js';
import { sgnsUpdate } from '../../src/backend/js-word2vec.js';
import { Generator } from '../../src/random.js';
import {
  buildWordCorpus,
  subsamplingKeep,
  trainWord2Vec,
  unigramTable,
} from '../../src/vectors/word2vec.js';
import { WordVectors } from '../../src/vectors/word-vectors.js';
import { backends, maxAbsDiff } from '../helpers.js';

test('Skip-gram negative-sampling step: alpha times minus the finite-difference gradient', () => {
  const D = 6;
  const g = new Generator(3);
  const input = Float32Array.from({ length: D }, () => g.normal() * 0.5);
  const syn1 = Float32Array.from({ length: 5 * D }, () => g.normal() * 0.5);
  const targets = [2, 0, 4];
  const labels = [1, 0, 0];
  const loss = (v: Float64Array, u: Float64Array): number => {
    let L = 0;
    targets.forEach((t, k) => {
      let f = 0;
      for (let d = 0; d < D; d++) f += v[d] * u[t * D + d];
      L -= Math.log(1 / (1 + Math.exp(labels[k] ? -f : f)));
    });
    return L;
  };
  const v0 = Float64Array.from(input);
  const u0 = Float64Array.from(syn1);
  const h = 1e-5;
  const grad = (x: Float64Array, i: number): number => {
    const o = x[i];
    x[i] = o + h;
    const a = loss(v0, u0);
    x[i] = o - h;
    const b = loss(v0, u0);
    x[i] = o;
    return (a - b) / (2 * h);
  };
  const alpha = 0.01;
  const s1 = syn1.slice();
  const neu1e = sgnsUpdate(input, s1, targets, labels, alpha, D);
  for (let d = 0; d < D; d++)
    assert.ok(Math.abs(neu1e[d] + alpha * grad(v0, d)) < 1e-6, `input ${d}`);
  for (const t of targets)
    for (let d = 0; d < D; d++) {
      const step = s1[t * D + d] - syn1[t * D + d];
      assert.ok(Math.abs(step + alpha * grad(u0, t * D + d)) < 1e-6, `u${t} ${d}`);
    }
});

test('corpus, subsampling and the unigram^0.75 table follow their formulas', () => {
  const c = buildWordCorpus('a a a b b\nc a b\n\nd', { minCount: 2 });
  assert.deepEqual(c.words, ['a', 'b']);
  assert.deepEqual(c.counts, [4, 3]);
  assert.deepEqual([...c.ids], [0, 0, 0, 1, 1, -1, 0, 1, -1]);
  const keep = subsamplingKeep(c, 0.1);
  const t = 0.1 * 7;
  assert.ok(Math.abs(keep[0] - (Math.sqrt(4 / t) + 1) * (t / 4)) < 1e-6);
  const table = unigramTable([16, 1], 10000);
  const share = table.filter((x) => x === 0).length / table.length;
  assert.ok(Math.abs(share - 8 / 9) < 1e-3, `share ${share}`); // 16^0.75 = 8
  assert.throws(() => buildWordCorpus('x y', { minCount: 2 }), /minCount=2/);
});

/** Sentences where 'alpha' and 'beta' always appear in the same contexts. */
function plantedCorpus(seed: number): string {
  const g = new Generator(seed);
  const fillers = Array.from({ length: 30 }, (_, i) => `w${i}`);
  const lines: string[] = [];
  for (let i = 0; i < 600; i++) {
    const ctx = Array.from({ length: 4 }, () => fillers[g.randint(10)]); // contexts of the pair
    const other = Array.from({ length: 5 }, () => fillers[10 + g.randint(20)]);
    const w = i % 2 === 0 ? 'alpha' : 'beta';
    lines.push([ctx[0], ctx[1], w, ctx[2], ctx[3]].join(' '));
    lines.push(other.join(' '));
  }
  return lines.join('\n');
}

for (const backendName of backends) {
  describe(`word2vec (${backendName})`, () => {
    for (const model of ['skipgram', 'cbow'] as const)
      test(`${model}: planted synonyms are each other's nearest neighbours`, () => {
        setBackend(backendName);
        const corpus = buildWordCorpus(plantedCorpus(1), { minCount: 1 });
        const { vectors } = trainWord2Vec(corpus, {
          model,
          dim: 16,
          epochs: 5,
          sample: 0,
          seed: 2,
        });
        assert.equal(vectors.neighbors('alpha', 1)[0].word, 'beta');
        assert.equal(vectors.neighbors('beta', 1)[0].word, 'alpha');
      });
  });
}

test('native word2vec on one thread equals the js specification', (t) => {
  const native = tryNativeBackend();
  if (!native) return t.skip('native backend not built');
  setBackend('native');
  setNumThreads(1);
  try {
    const corpus = buildWordCorpus(plantedCorpus(2).slice(0, 3000), { minCount: 1 });
    for (const model of ['skipgram', 'cbow'] as const) {
      const run = (name: 'js' | 'native') => {
        setBackend(name);
        return trainWord2Vec(corpus, { model, dim: 8, epochs: 2, seed: 5 });
      };
      const a = run('js');
      const b = run('native');
      assert.equal(a.trained, b.trained, 'same subsampling draws');
      const d = maxAbsDiff(a.vectors.vectors, b.vectors.vectors);
      assert.ok(d < 1e-4, `${model}: max abs diff ${d}`);
    }
  } finally {
    setNumThreads(2);
    setBackend('native');
  }
});

test('word vectors: text, binary and safetensors files round-trip; analogies by 3CosAdd', () => {
  const words = ['king', 'queen', 'man', 'woman', 'apple'];
  const v = new WordVectors(
    words,
    Float32Array.from([1, 1, 0, 1, -1, 0, 0, 1, 0.1, 0, -1, 0.1, 0, 0, 5]),
    3,
  );
  const dir = mkdtempSync(join(tmpdir(), 'tts-wv-'));
  for (const f of ['text', 'binary', 'safetensors'] as const) {
    const p = join(dir, `v.${f}`);
    v.save(p, f);
    const back = WordVectors.load(p);
    assert.deepEqual(back.words, words, f);
    assert.ok(maxAbsDiff(back.vectors, v.vectors) < 1e-6, f);
  }
  assert.equal(v.analogy('man', 'king', 'woman')[0].word, 'queen');
  assert.throws(() => v.neighbors('pear'), /'pear' is not in the vocabulary/);
});
