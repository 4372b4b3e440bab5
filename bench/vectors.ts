/**
 * `npm run bench -- --case vectors`: our Word2Vec (native kernel, 2 threads) against
 * fastText (Debian `fasttext`, `-minn 0 -maxn 0`: no subwords, i.e. word2vec) on the same
 * corpus in the same run, with the same dimension, window, epochs, negatives, minimum count,
 * subsampling threshold and 2 threads, for Skip-gram and CBOW: training words/s (corpus
 * tokens x epochs / wall seconds of training; fastText's includes reading its input, which
 * is a small share), the analogy accuracy on data/vectors/shakespeare-analogies.txt and the
 * Spearman rho of cosines against the scores of data/vectors/shakespeare-similarity.txt.
 * The corpus is data/tinyshakespeare.txt lowercased with punctuation removed.
 * Target (issue #18): our Skip-gram at least as fast as fastText's, and within 2 points of
 * its analogy score (and its similarity rho, reported beside it). A small corpus: the scores are low for both and noisy.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setBackend } from '../src/backend/index.js';
import { evaluateAnalogies, evaluateSimilarity } from '../src/vectors/evaluate.js';
import { buildWordCorpus, trainWord2Vec } from '../src/vectors/word2vec.js';
import { WordVectors } from '../src/vectors/word-vectors.js';
import { BENCH_DIR } from './lm-common.js';
import type { CaseResult, Row } from './matmul.js';
import { r2 } from './peer.js';

const P = { dim: 100, window: 5, epochs: 5, negative: 5, minCount: 5, sample: 1e-3, alpha: 0.05 };

export async function vectorsCase(): Promise<CaseResult> {
  setBackend('native');
  const raw = readFileSync(join(BENCH_DIR, '..', 'data', 'tinyshakespeare.txt'), 'utf8');
  const text = raw.toLowerCase().replace(/[^\p{L}\p{N}'\s]+/gu, ' ');
  const questions = readFileSync(
    join(BENCH_DIR, '..', 'data', 'vectors', 'shakespeare-analogies.txt'),
    'utf8',
  );
  const pairs = readFileSync(
    join(BENCH_DIR, '..', 'data', 'vectors', 'shakespeare-similarity.txt'),
    'utf8',
  );
  const dir = mkdtempSync(join(tmpdir(), 'tts-vectors-'));
  const corpusPath = join(dir, 'corpus.txt');
  writeFileSync(corpusPath, text);
  const corpus = buildWordCorpus(text, { minCount: P.minCount });
  const rows: Row[] = [];
  const notes = [
    `corpus: tinyshakespeare lowercased, ${corpus.tokens.toLocaleString('en-US')} tokens, ${corpus.words.length} words (min count ${P.minCount}); dim ${P.dim}, window ${P.window}, ${P.epochs} epochs, ${P.negative} negatives, sample ${P.sample}, learning rate ${P.alpha} (fastText's default) decayed linearly, 2 threads; fastText's time includes its process start, reading the corpus and writing its files, ours only training`,
  ];
  let haveFt = true;
  try {
    execFileSync('fasttext', [], { stdio: 'ignore' });
  } catch (e) {
    haveFt = (e as { status?: number }).status !== undefined; // it ran (usage, exit 1)
  }
  for (const model of ['skipgram', 'cbow'] as const) {
    const ours = trainWord2Vec(corpus, { model, ...P, seed: 1 });
    const oursScore = evaluateAnalogies(ours.vectors, questions);
    const row: Row = {
      model,
      ours_words_s: Math.round((corpus.tokens * P.epochs) / ours.seconds),
      ours_analogy: r2(100 * oursScore.accuracy),
      ours_similarity: r2(evaluateSimilarity(ours.vectors, pairs).spearman),
      fasttext_words_s: null,
      fasttext_analogy: null,
      fasttext_similarity: null,
      speed_ratio: null,
      answered: oursScore.answered,
    };
    if (haveFt) {
      const out = join(dir, `ft-${model}`);
      const t0 = performance.now();
      execFileSync('fasttext', [
        model,
        '-input',
        corpusPath,
        '-output',
        out,
        '-dim',
        String(P.dim),
        '-ws',
        String(P.window),
        '-epoch',
        String(P.epochs),
        '-neg',
        String(P.negative),
        '-minCount',
        String(P.minCount),
        '-t',
        String(P.sample),
        '-minn',
        '0',
        '-maxn',
        '0',
        '-thread',
        '2',
        '-verbose',
        '0',
      ]);
      const seconds = (performance.now() - t0) / 1000;
      const ftVectors = WordVectors.load(`${out}.vec`);
      const ft = evaluateAnalogies(ftVectors, questions);
      row.fasttext_similarity = r2(evaluateSimilarity(ftVectors, pairs).spearman);
      row.fasttext_words_s = Math.round((corpus.tokens * P.epochs) / seconds);
      row.fasttext_analogy = r2(100 * ft.accuracy);
      row.speed_ratio = r2((row.ours_words_s as number) / (row.fasttext_words_s as number));
    }
    rows.push(row);
  }
  if (!haveFt) notes.push('peer unavailable: fasttext not installed (apt-get install fasttext)');
  return { title: 'vectors (Word2Vec vs fastText, same corpus and settings)', rows, notes };
}
