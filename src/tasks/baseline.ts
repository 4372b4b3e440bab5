/**
 * The classical text classifiers as a task (issue #18, "Baseline classifiers"): bag-of-words
 * + multinomial naive Bayes (`bow-nb`; with `binary` the one-hot document vectors) and
 * TF-IDF + logistic regression (`tfidf-logreg`), trained on the same data and splits as the
 * Transformer classifier (src/tasks/classify.ts), saved to a model directory and loaded
 * back by `transformer classify` / `eval` and `load()`.
 *
 * The vectorizers and classifiers are src/vectors/bow.ts and classifiers.ts (scikit-learn's
 * CountVectorizer / TfidfVectorizer, MultinomialNB and LogisticRegression formulas). A
 * baseline model directory holds config.json (`task: 'classify'`, `model: 'BowNB'` or
 * `'TfidfLogReg'`, `config.arch` and the options, `labels`), model.safetensors (float64,
 * so a loaded model scores exactly as the fitted one: `weight` (K, V), `bias` (K), `idf` (V)
 * for TF-IDF; the vocabulary as the JSON list `terms` in its metadata) and metrics.jsonl.
 *
 * Shape letters: N documents, V vocabulary (terms), K classes.
 */
import { join } from 'node:path';
import { readSafetensors, writeSafetensors, type RawTensor } from '../io/safetensors.js';
import {
  Vocabulary,
  bagOfWords,
  defaultAnalyzer,
  fitTfidf,
  fitVocabulary,
  tfidf,
  type CsrMatrix,
} from '../vectors/bow.js';
import { fitLogisticRegression, fitMultinomialNB, linearScores } from '../vectors/classifiers.js';
import type { ModelDirConfig } from './modeldir.js';
import type { Example } from './classify.js';

/** The baseline architectures of `train --task classify --arch`. */
export const BASELINE_ARCHS = ['tfidf-logreg', 'bow-nb'] as const;
export type BaselineArch = (typeof BASELINE_ARCHS)[number];

/** config.json's `model` of each baseline architecture. */
export const BASELINE_MODELS: Record<BaselineArch, string> = {
  'tfidf-logreg': 'TfidfLogReg',
  'bow-nb': 'BowNB',
};

/** Options of a baseline (`--config FILE.json` keys); every one has scikit-learn's default. */
export interface BaselineConfig {
  /** Vocabulary: minimum document frequency (count, or fraction < 1). Default 1. */
  minDf?: number;
  /** Vocabulary: maximum document frequency (fraction <= 1, or count). Default 1. */
  maxDf?: number;
  /** Vocabulary: keep the most frequent terms only. Default all. */
  maxFeatures?: number;
  /** bow-nb: presence (one-hot document vectors) instead of counts. Default false. */
  binary?: boolean;
  /** bow-nb: additive smoothing. Default 1. */
  alpha?: number;
  /** tfidf-logreg: inverse regularization strength. Default 1. */
  C?: number;
  /** tfidf-logreg: L-BFGS gradient tolerance. Default 1e-4. */
  tol?: number;
  /** tfidf-logreg: L-BFGS iterations at most. Default 500. */
  maxIter?: number;
}

const CONFIG_KEYS: Record<keyof BaselineConfig, BaselineArch[]> = {
  minDf: ['tfidf-logreg', 'bow-nb'],
  maxDf: ['tfidf-logreg', 'bow-nb'],
  maxFeatures: ['tfidf-logreg', 'bow-nb'],
  binary: ['bow-nb'],
  alpha: ['bow-nb'],
  C: ['tfidf-logreg'],
  tol: ['tfidf-logreg'],
  maxIter: ['tfidf-logreg'],
};

/**
 * Check a baseline's options: known keys of this architecture, numbers (binary a boolean).
 * @throws Error naming `where`, the key and the keys that apply.
 */
export function checkBaselineConfig(
  arch: BaselineArch,
  config: Record<string, unknown>,
  where: string,
): BaselineConfig {
  const known = Object.entries(CONFIG_KEYS)
    .filter(([, archs]) => archs.includes(arch))
    .map(([k]) => k);
  for (const [k, v] of Object.entries(config)) {
    if (!known.includes(k))
      throw new Error(
        `${where}: '${k}' does not apply to --arch ${arch} (known: ${known.join(', ')})`,
      );
    const ok =
      k === 'binary' ? typeof v === 'boolean' : typeof v === 'number' && Number.isFinite(v);
    if (!ok)
      throw new Error(
        `${where}: '${k}' must be a ${k === 'binary' ? 'boolean' : 'number'}, got ${JSON.stringify(v)}`,
      );
  }
  return config as BaselineConfig;
}

/** The index of the largest value. */
function argmax(row: Float64Array): number {
  let best = 0;
  for (let k = 1; k < row.length; k++) if (row[k] > row[best]) best = k;
  return best;
}

/** A fitted (or loaded) baseline: linear scores over BoW or TF-IDF rows. */
export class BaselineClassifier {
  readonly task = 'classify' as const;
  constructor(
    readonly arch: BaselineArch,
    readonly config: BaselineConfig,
    readonly labels: readonly string[],
    readonly vocab: Vocabulary,
    /** (K, V) feature weights: log P(t | c) for NB, the coefficients for logistic regression. */
    readonly weight: Float64Array,
    /** (K) log P(c) for NB, the intercepts for logistic regression. */
    readonly bias: Float64Array,
    /** (V) idf of each term (tfidf-logreg), null for bow-nb. */
    readonly idf: Float64Array | null,
  ) {
    const [K, V] = [labels.length, vocab.size];
    if (weight.length !== K * V || bias.length !== K || (idf && idf.length !== V))
      throw new Error(
        `baseline: weight of ${weight.length}, bias of ${bias.length}, idf of ${idf?.length ?? 0} values for ${K} classes and ${V} terms`,
      );
  }

  /** The document rows the classifier reads: TF-IDF, or counts (presence when binary). @returns (N, V) */
  features(texts: readonly string[]): CsrMatrix {
    if (this.idf) return tfidf({ vocab: this.vocab, idf: this.idf }, texts);
    return bagOfWords(this.vocab, texts, { binary: this.config.binary ?? false });
  }

  /** (N, K) class scores x W^T + b: NB's log joint probabilities, logistic regression's logits. */
  scores(texts: readonly string[]): Float64Array {
    return linearScores(this.features(texts), this.weight, this.bias, this.labels.length);
  }

  /**
   * The predicted label of each text and its probability: the softmax of the scores (NB's
   * posterior P(c | d), logistic regression's model probability).
   */
  classify(texts: readonly string[]): { label: string; probability: number }[] {
    return this.probabilities(texts).map((row) => {
      const best = argmax(row);
      return { label: this.labels[best], probability: row[best] };
    });
  }

  /** Softmax of each row of scores: (N) rows of K probabilities. */
  probabilities(texts: readonly string[]): Float64Array[] {
    const s = this.scores(texts);
    const K = this.labels.length;
    return Array.from({ length: s.length / K }, (_, r) => {
      const row = s.slice(r * K, (r + 1) * K);
      const m = Math.max(...row);
      let z = 0;
      for (let k = 0; k < K; k++) z += row[k] = Math.exp(row[k] - m);
      return row.map((v) => v / z);
    });
  }

  /** Mean cross-entropy (nats) and accuracy on labelled examples (unknown labels count wrong). */
  evaluate(examples: readonly Example[]): { loss: number; accuracy: number } {
    const probs = this.probabilities(examples.map((e) => e.text));
    let loss = 0;
    let correct = 0;
    examples.forEach((e, i) => {
      const y = this.labels.indexOf(e.label);
      const row = probs[i];
      loss -= Math.log(Math.max(y >= 0 ? row[y] : 0, 1e-300));
      if (argmax(row) === y) correct++;
    });
    const n = Math.max(examples.length, 1);
    return { loss: loss / n, accuracy: correct / n };
  }

  /** config.json of the model directory. */
  dirConfig(): ModelDirConfig {
    return {
      task: 'classify',
      model: BASELINE_MODELS[this.arch],
      config: { arch: this.arch, analyzer: 'sklearn-default', ...this.config },
      labels: [...this.labels],
    };
  }

  /** Write model.safetensors (float64 weights, the terms in the metadata) into `dir`. */
  saveWeights(dir: string): void {
    const f64 = (a: Float64Array, shape: number[]): RawTensor => ({
      dtype: 'F64',
      shape,
      data: new Uint8Array(Float64Array.from(a).buffer),
    });
    const tensors: Record<string, RawTensor> = {
      weight: f64(this.weight, [this.labels.length, this.vocab.size]),
      bias: f64(this.bias, [this.labels.length]),
    };
    if (this.idf) tensors.idf = f64(this.idf, [this.vocab.size]);
    writeSafetensors(join(dir, 'model.safetensors'), tensors, {
      format: 'transformer-ts-baseline/1',
      terms: JSON.stringify(this.vocab.terms),
    });
  }

  /**
   * Load a baseline from its directory's config and model.safetensors.
   * @throws Error naming model.safetensors when a tensor or the terms are missing or malformed.
   */
  static load(dir: string, cfg: ModelDirConfig): BaselineClassifier {
    const path = join(dir, 'model.safetensors');
    const {
      arch,
      analyzer: _a,
      ...config
    } = cfg.config as { arch: BaselineArch; analyzer?: string };
    if (!BASELINE_ARCHS.includes(arch))
      throw new Error(
        `${join(dir, 'config.json')}: config.arch must be ${BASELINE_ARCHS.join(' or ')}, got ${JSON.stringify(arch)}`,
      );
    const { tensors, metadata } = readSafetensors(path);
    const terms = JSON.parse(metadata.terms ?? 'null') as unknown;
    if (!Array.isArray(terms) || !terms.every((t) => typeof t === 'string'))
      throw new Error(`${path}: metadata 'terms' must be a JSON list of strings`);
    const read = (name: string): Float64Array => {
      const t = tensors.get(name);
      if (!t || t.dtype !== 'F64') throw new Error(`${path}: no F64 tensor '${name}'`);
      const bytes = new Uint8Array(t.data.length); // a copy: the data is a view of the file
      bytes.set(t.data);
      return new Float64Array(bytes.buffer);
    };
    return new BaselineClassifier(
      arch,
      checkBaselineConfig(arch, config, join(dir, 'config.json')),
      cfg.labels ?? [],
      new Vocabulary(terms as string[], defaultAnalyzer),
      read('weight'),
      read('bias'),
      arch === 'tfidf-logreg' ? read('idf') : null,
    );
  }
}

/**
 * Fit a baseline on labelled texts: the vocabulary (and idf) from the training texts, then
 * naive Bayes or logistic regression (src/vectors/classifiers.ts); labels sorted, as the
 * Transformer classifier numbers them.
 * @throws Error for fewer than two labels, or an option out of range (named).
 */
export function fitBaseline(
  arch: BaselineArch,
  train: readonly Example[],
  config: BaselineConfig = {},
): BaselineClassifier {
  const texts = train.map((e) => e.text);
  const labels = train.map((e) => e.label);
  if (new Set(labels).size < 2)
    throw new Error(
      `--data: classification needs at least 2 labels, found ${new Set(labels).size}`,
    );
  const vocabOptions = {
    minDf: config.minDf,
    maxDf: config.maxDf,
    maxFeatures: config.maxFeatures,
  };
  if (arch === 'bow-nb') {
    const vocab = fitVocabulary(texts, vocabOptions);
    const nb = fitMultinomialNB(
      bagOfWords(vocab, texts, { binary: config.binary ?? false }),
      labels,
      config.alpha ?? 1,
    );
    return new BaselineClassifier(
      arch,
      config,
      nb.classes,
      vocab,
      nb.featureLogProb,
      nb.classLogPrior,
      null,
    );
  }
  const model = fitTfidf(texts, vocabOptions);
  const lr = fitLogisticRegression(tfidf(model, texts), labels, {
    C: config.C,
    tol: config.tol,
    maxIter: config.maxIter,
  });
  return new BaselineClassifier(
    arch,
    config,
    lr.classes,
    model.vocab,
    lr.coef,
    lr.intercept,
    model.idf,
  );
}
