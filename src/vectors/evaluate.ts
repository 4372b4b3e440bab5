/**
 * Intrinsic evaluation of word vectors by analogies (Mikolov et al. 2013a, Sec. 4.1): a
 * question "a b c d" counts as correct when d is the nearest word (3CosAdd, a, b and c
 * excluded) to b - a + c. Questions with a word outside the vocabulary are skipped, and
 * counted as such. The file format is word2vec's questions-words.txt: `: section` lines,
 * then one question per line; `#` starts a comment line. And by word-pair similarity
 * (WordSim-353, Finkelstein et al. 2002): Spearman's rho between human scores and cosines.
 */
import type { WordVectors } from './word-vectors.js';

/** Accuracy over the answerable questions, overall and per section. */
export interface AnalogyScore {
  correct: number;
  answered: number;
  skipped: number;
  /** correct / answered, 0 when nothing was answerable. */
  accuracy: number;
  sections: { name: string; correct: number; answered: number }[];
}

/**
 * Score vectors on analogy questions.
 * @param questions the text of a questions-words file.
 * @param lowercase compare lowercased words (the questions and the vocabulary).
 * @throws Error naming the line of a question that does not have four words.
 */
export function evaluateAnalogies(
  vectors: WordVectors,
  questions: string,
  lowercase = true,
): AnalogyScore {
  const score: AnalogyScore = { correct: 0, answered: 0, skipped: 0, accuracy: 0, sections: [] };
  let section = { name: '(none)', correct: 0, answered: 0 };
  questions.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    if (line.startsWith(':')) {
      section = { name: line.slice(1).trim(), correct: 0, answered: 0 };
      score.sections.push(section);
      return;
    }
    const w = (lowercase ? line.toLowerCase() : line).split(/\s+/);
    if (w.length !== 4) throw new Error(`analogies: line ${i + 1} has ${w.length} words, not 4`);
    if (w.some((x) => !vectors.index.has(x))) {
      score.skipped++;
      return;
    }
    const [best] = vectors.analogy(w[0], w[1], w[2], 1);
    const ok = best?.word === w[3];
    score.answered++;
    section.answered++;
    if (ok) {
      score.correct++;
      section.correct++;
    }
  });
  score.accuracy = score.answered > 0 ? score.correct / score.answered : 0;
  return score;
}

/** Rank correlation of the vectors' cosine similarities with a word-pair set's scores. */
export interface SimilarityScore {
  /** Spearman's rho over the answered pairs (NaN when fewer than 2). */
  spearman: number;
  answered: number;
  /** Pairs with a word outside the vocabulary. */
  skipped: number;
}

/**
 * Ranks 1..n of `x`, ties given the mean of the ranks they span (as scipy.stats.rankdata).
 * @param x (n) values.
 */
export function ranks(x: readonly number[]): number[] {
  const order = x.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const r = new Array<number>(x.length);
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
    for (let k = i; k <= j; k++) r[order[k][1]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

/**
 * Spearman's rank correlation: Pearson's correlation of the ranks (ties averaged).
 * @param x (n) values; @param y (n) values.
 * @returns rho in [-1, 1], NaN when n < 2 or a side is constant.
 * @throws Error when the lengths differ.
 */
export function spearman(x: readonly number[], y: readonly number[]): number {
  if (x.length !== y.length) throw new Error(`spearman: ${x.length} values against ${y.length}`);
  const n = x.length;
  if (n < 2) return NaN;
  const [rx, ry] = [ranks(x), ranks(y)];
  const m = (n + 1) / 2;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (rx[i] - m) * (ry[i] - m);
    sxx += (rx[i] - m) ** 2;
    syy += (ry[i] - m) ** 2;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : NaN;
}

/**
 * Score vectors on a word-pair similarity set (WordSim-353's format: "word1 word2 score"
 * per line, `#` comments; Finkelstein et al. 2002): Spearman's rho between the scores and
 * the cosine similarities of the pairs whose words are both in the vocabulary.
 * @param pairs the text of the set.
 * @param lowercase compare lowercased words.
 * @throws Error naming a line that is not two words and a number.
 */
export function evaluateSimilarity(
  vectors: WordVectors,
  pairs: string,
  lowercase = true,
): SimilarityScore {
  const human: number[] = [];
  const cosine: number[] = [];
  let skipped = 0;
  pairs.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const f = (lowercase ? line.toLowerCase() : line).split(/\s+/);
    const score = Number(f[2]);
    if (f.length !== 3 || !Number.isFinite(score))
      throw new Error(`similarity: line ${i + 1} is not "word1 word2 score": '${line}'`);
    const [a, b] = [vectors.vector(f[0]), vectors.vector(f[1])];
    if (!a || !b) {
      skipped++;
      return;
    }
    let [ab, aa, bb] = [0, 0, 0];
    for (let d = 0; d < vectors.dim; d++) {
      ab += a[d] * b[d];
      aa += a[d] * a[d];
      bb += b[d] * b[d];
    }
    human.push(score);
    cosine.push(aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0);
  });
  return { spearman: spearman(human, cosine), answered: human.length, skipped };
}
