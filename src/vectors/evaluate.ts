/**
 * Intrinsic evaluation of word vectors by analogies (Mikolov et al. 2013a, Sec. 4.1): a
 * question "a b c d" counts as correct when d is the nearest word (3CosAdd, a, b and c
 * excluded) to b - a + c. Questions with a word outside the vocabulary are skipped, and
 * counted as such. The file format is word2vec's questions-words.txt: `: section` lines,
 * then one question per line; `#` starts a comment line.
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
