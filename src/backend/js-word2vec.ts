/**
 * The js specification of the word2vec training kernel (`word2vecTrain` in types.ts):
 * Skip-gram and CBOW with negative sampling (Mikolov et al. 2013, "Distributed
 * Representations of Words and Phrases", Sec. 2.2-2.3), as the reference word2vec.c runs
 * them: a randomly reduced window per position, frequent-word subsampling, negatives drawn
 * from the unigram^0.75 table, the learning rate decayed linearly to alpha * 1e-4 over the
 * whole run, plain SGD on shared vectors. One thread here; native/word2vec.c splits the
 * corpus over the pool's threads (Hogwild, as word2vec.c does).
 *
 * Random numbers: a 32-bit LCG per thread, x' = 1664525 x + 1013904223 (mod 2^32), seeded
 * with seed + 7919 * thread, so one thread gives the same draws on both backends.
 *
 * Shape letters: V vocabulary, D vector width, N corpus tokens.
 */
import type { Word2VecParams } from './types.js';

type F32 = Float32Array;

/** The next state of the LCG. */
export const lcg = (x: number): number => (Math.imul(x, 1664525) + 1013904223) >>> 0;

/** Sentences are cut after this many words (word2vec.c's MAX_SENTENCE_LENGTH). */
export const MAX_SENTENCE = 1000;

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/**
 * One negative-sampling update of `input` (D, a row of syn0 or CBOW's mean) against output
 * rows `targets` of syn1 with labels 1 (the true word) and 0 (negatives): for each target,
 * g = alpha (label - sigmoid(input . u)), neu1e += g u, u += g input, in order; returns the
 * accumulated neu1e (D) for the caller to add to the input vector(s). This is
 * alpha * (-dL/d input) and u's step is alpha * (-dL/du) for
 * L = -log sigmoid(input . u_true) - sum log sigmoid(-input . u_neg).
 */
export function sgnsUpdate(
  input: F32,
  syn1: F32,
  targets: readonly number[],
  labels: readonly number[],
  alpha: number,
  D: number,
  neu1e: F32 = new Float32Array(D),
): F32 {
  for (let k = 0; k < targets.length; k++) {
    const u = targets[k] * D;
    let f = 0;
    for (let d = 0; d < D; d++) f += input[d] * syn1[u + d];
    const g = alpha * (labels[k] - sigmoid(f));
    for (let d = 0; d < D; d++) {
      neu1e[d] += g * syn1[u + d];
      syn1[u + d] += g * input[d];
    }
  }
  return neu1e;
}

/**
 * Train in place. See Kernels.word2vecTrain.
 * @returns the number of corpus positions processed (after subsampling), over all epochs.
 */
export function word2vecTrain(
  syn0: F32,
  syn1: F32,
  corpus: Int32Array,
  keepProb: F32,
  table: Int32Array,
  p: Word2VecParams,
): number {
  const { dim: D, window: W, negative, epochs, alpha, cbow } = p;
  const total = epochs * corpus.length;
  let rnd = (p.seed + 0) >>> 0;
  let done = 0;
  let kept = 0;
  const neu1 = new Float32Array(D);
  const neu1e = new Float32Array(D);
  const targets: number[] = [];
  const labels: number[] = [];
  const sentence: number[] = [];
  for (let e = 0; e < epochs; e++) {
    for (let start = 0; start < corpus.length;) {
      // One sentence: up to the next -1 (a line break) or MAX_SENTENCE words, subsampled.
      sentence.length = 0;
      let i = start;
      for (; i < corpus.length && corpus[i] >= 0 && i - start < MAX_SENTENCE; i++) {
        rnd = lcg(rnd);
        if (keepProb[corpus[i]] >= 1 || keepProb[corpus[i]] > (rnd & 0xffff) / 65536)
          sentence.push(corpus[i]);
      }
      const lr = alpha * Math.max(1 - done / (total + 1), 1e-4);
      const brk = i < corpus.length && corpus[i] < 0 ? 1 : 0; // skip the break
      done += i - start + brk;
      start = i + brk;
      kept += sentence.length;
      for (let pos = 0; pos < sentence.length; pos++) {
        const word = sentence[pos];
        rnd = lcg(rnd);
        const b = rnd % W; // the reduced window: W - b positions each side
        const ctx: number[] = [];
        for (let a = b; a < 2 * W + 1 - b; a++) {
          if (a === W) continue;
          const c = pos - W + a;
          if (c >= 0 && c < sentence.length) ctx.push(sentence[c]);
        }
        if (ctx.length === 0) continue;
        const draw = (): void => {
          targets.length = 0;
          labels.length = 0;
          targets.push(word);
          labels.push(1);
          for (let n = 0; n < negative; n++) {
            rnd = lcg(rnd);
            const t = table[(rnd >>> 8) % table.length];
            if (t === word) continue;
            targets.push(t);
            labels.push(0);
          }
        };
        if (cbow) {
          // Mean of the context vectors predicts the word; each context vector gets neu1e.
          neu1.fill(0);
          for (const c of ctx) for (let d = 0; d < D; d++) neu1[d] += syn0[c * D + d];
          for (let d = 0; d < D; d++) neu1[d] /= ctx.length;
          draw();
          neu1e.fill(0);
          sgnsUpdate(neu1, syn1, targets, labels, lr, D, neu1e);
          for (const c of ctx) for (let d = 0; d < D; d++) syn0[c * D + d] += neu1e[d];
        } else {
          // Skip-gram as word2vec.c: each context word's vector predicts the word.
          for (const c of ctx) {
            draw();
            neu1e.fill(0);
            const v = syn0.subarray(c * D, (c + 1) * D);
            sgnsUpdate(v, syn1, targets, labels, lr, D, neu1e);
            for (let d = 0; d < D; d++) v[d] += neu1e[d];
          }
        }
      }
    }
  }
  return kept;
}
