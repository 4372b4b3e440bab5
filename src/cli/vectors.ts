/**
 * `transformer vectors`: word vectors from the CLI (issue #18).
 *   vectors train --data NAME|FILE --out FILE [--model skipgram|cbow|glove] [--dim ...]
 *   vectors neighbors --vectors FILE WORD [--k 10]
 *   vectors analogy --vectors FILE A B C [--k 5]
 *   vectors evaluate --vectors FILE [--analogies FILE] [--similarity FILE]
 * The output format follows the file extension: `.bin` word2vec binary, `.safetensors`,
 * anything else word2vec text (what gensim's load_word2vec_format and fastText read).
 */
import { existsSync } from 'node:fs';
import { extname, join } from 'node:path';
import { BUILTIN_DATASETS, packageRoot, readText, resolveDataset } from '../data/index.js';
import { evaluateAnalogies, evaluateSimilarity } from '../vectors/evaluate.js';
import { buildWordCorpus, trainWord2Vec } from '../vectors/word2vec.js';
import { cooccurrence, trainGlove } from '../vectors/glove.js';
import { WordVectors } from '../vectors/word-vectors.js';
import { output } from './output.js';

export interface VectorsTrainOptions {
  data: string;
  out: string;
  model: 'skipgram' | 'cbow' | 'glove';
  dim: number;
  window: number;
  negative: number;
  epochs: number;
  minCount: number;
  sample: number;
  lowercase?: boolean;
  seed: number;
}

/** The corpus text of a built-in text data set or a file. */
function corpusText(data: string): string {
  if (data in BUILTIN_DATASETS) {
    const t = resolveDataset(data, 'lm');
    return typeof t === 'string' ? t : readText((t as { path: string }).path);
  }
  if (!existsSync(data)) throw new Error(`--data: no such file '${data}'`);
  return readText(data);
}

/** `vectors train`: train and write the vectors; prints size, speed and the file. */
export function runVectorsTrain(o: VectorsTrainOptions): void {
  const corpus = buildWordCorpus(corpusText(o.data), {
    minCount: o.minCount,
    lowercase: o.lowercase,
  });
  output.err(
    `${o.model}: ${corpus.words.length.toLocaleString('en-US')} words (min count ${o.minCount}), ${corpus.tokens.toLocaleString('en-US')} tokens, dimension ${o.dim}, window ${o.window}, ${o.epochs} epochs\n`,
  );
  let vectors: WordVectors;
  const t0 = performance.now();
  if (o.model === 'glove') {
    const x = cooccurrence(corpus, o.window);
    const r = trainGlove(corpus.words, x, { dim: o.dim, epochs: o.epochs, seed: o.seed });
    vectors = r.vectors;
    output.err(
      `glove: ${x.values.length.toLocaleString('en-US')} co-occurring pairs, final cost ${r.costs.at(-1)!.toFixed(4)}\n`,
    );
  } else {
    const r = trainWord2Vec(corpus, {
      model: o.model,
      dim: o.dim,
      window: o.window,
      negative: o.negative,
      epochs: o.epochs,
      sample: o.sample,
      seed: o.seed,
    });
    vectors = r.vectors;
    output.err(
      `${Math.round((corpus.tokens * o.epochs) / r.seconds).toLocaleString('en-US')} words/s\n`,
    );
  }
  const ext = extname(o.out).toLowerCase();
  vectors.save(o.out, ext === '.bin' ? 'binary' : ext === '.safetensors' ? 'safetensors' : 'text');
  output.err(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${o.out}\n`);
}

/** `vectors neighbors WORD`: the k nearest words by cosine similarity. */
export function runVectorsNeighbors(path: string, word: string, k: number): void {
  for (const n of WordVectors.load(path).neighbors(word, k))
    output.out(`${n.word}\t${n.similarity.toFixed(4)}\n`);
}

/** `vectors analogy A B C`: "A is to B as C is to ?" by 3CosAdd. */
export function runVectorsAnalogy(path: string, a: string, b: string, c: string, k: number): void {
  for (const n of WordVectors.load(path).analogy(a, b, c, k))
    output.out(`${n.word}\t${n.similarity.toFixed(4)}\n`);
}

/** The built-in intrinsic sets (over lowercased tinyshakespeare): data/vectors/*. */
export const BUILTIN_ANALOGIES = 'data/vectors/shakespeare-analogies.txt';
export const BUILTIN_SIMILARITY = 'data/vectors/shakespeare-similarity.txt';

/**
 * `vectors evaluate`: analogy accuracy (3CosAdd) and word-pair similarity (Spearman's rho)
 * of a vectors file; the sets default to the built-in Shakespeare ones.
 * @throws Error naming a set file that does not exist.
 */
export function runVectorsEvaluate(path: string, analogies?: string, similarity?: string): void {
  const vectors = WordVectors.load(path);
  const set = (file: string | undefined, builtin: string, flag: string) => {
    const p = file ?? join(packageRoot(), builtin);
    if (!existsSync(p)) throw new Error(`${flag}: no such file '${p}'`);
    return { path: p, text: readText(p) };
  };
  const an = set(analogies, BUILTIN_ANALOGIES, '--analogies');
  const sim = set(similarity, BUILTIN_SIMILARITY, '--similarity');
  const a = evaluateAnalogies(vectors, an.text);
  const s = evaluateSimilarity(vectors, sim.text);
  output.out(
    `analogies\t${(100 * a.accuracy).toFixed(1)}%\t${a.correct}/${a.answered} answered, ${a.skipped} skipped\t${an.path}\n`,
  );
  for (const sec of a.sections) output.out(`  ${sec.name}\t${sec.correct}/${sec.answered}\n`);
  output.out(
    `similarity\t${s.spearman.toFixed(3)}\tSpearman rho over ${s.answered} pairs, ${s.skipped} skipped\t${sim.path}\n`,
  );
}
