/**
 * Word representations before embeddings, as our tutorials build them: one-hot vectors,
 * bag-of-words counts and TF-IDF, stored sparse (CSR). The defaults reproduce scikit-learn's
 * CountVectorizer / TfidfVectorizer on the same text (fixtures in test/fixtures/vectors from
 * scripts/make_tfidf_fixtures.py):
 *
 * - tokens: lowercase, then every maximal run of two or more word characters (sklearn's
 *   token_pattern `(?u)\b\w\w+\b`; "word characters" are Unicode letters, digits, marks and
 *   the underscore);
 * - the vocabulary is sorted (sklearn orders features alphabetically, by code point), after
 *   dropping terms below minDf documents or above maxDf, keeping the maxFeatures most
 *   frequent (ties by the sorted order);
 * - TF-IDF (Sparck Jones 1972; sklearn's smooth_idf=True, norm='l2'):
 *   idf(t) = ln((1 + n) / (1 + df(t))) + 1, tfidf(d, t) = count(d, t) * idf(t), each row
 *   then divided by its Euclidean norm.
 *
 * Shape letters: N documents, V vocabulary.
 */

import { compareCodePoints } from '../tokenizers/counting.js';

/** A sparse (N, V) matrix in compressed sparse row form, column indices sorted per row. */
export interface CsrMatrix {
  readonly rows: number;
  readonly cols: number;
  /** (N + 1) row starts into indices/data. */
  readonly indptr: Int32Array;
  readonly indices: Int32Array;
  readonly data: Float32Array;
}

/** The row r of a CSR matrix as a dense Float32Array (V). */
export function denseRow(m: CsrMatrix, r: number): Float32Array {
  const out = new Float32Array(m.cols);
  for (let p = m.indptr[r]; p < m.indptr[r + 1]; p++) out[m.indices[p]] = m.data[p];
  return out;
}

const TOKEN = /[\p{L}\p{M}\p{N}_]{2,}/gu;

/** sklearn's default analyzer: lowercase, then runs of >= 2 word characters. */
export function defaultAnalyzer(text: string): string[] {
  return text.toLowerCase().match(TOKEN) ?? [];
}

export interface VocabularyOptions {
  /** Ignore terms in fewer documents: a count (>= 1) or a fraction of them (< 1). Default 1. */
  minDf?: number;
  /** Ignore terms in more documents: a fraction of them (<= 1) or a count (> 1). Default 1. */
  maxDf?: number;
  /** Keep at most this many terms, the most frequent over the corpus. Default: all. */
  maxFeatures?: number;
  /** Text -> tokens. Default defaultAnalyzer. */
  analyzer?: (text: string) => string[];
}

/** A fitted vocabulary: term -> column, in sorted order. */
export class Vocabulary {
  readonly terms: readonly string[];
  readonly index: ReadonlyMap<string, number>;
  readonly analyzer: (text: string) => string[];
  constructor(terms: readonly string[], analyzer: (text: string) => string[] = defaultAnalyzer) {
    this.terms = terms;
    this.index = new Map(terms.map((t, i) => [t, i]));
    this.analyzer = analyzer;
  }
  get size(): number {
    return this.terms.length;
  }
}

/**
 * Fit a vocabulary to documents, as sklearn's CountVectorizer.fit.
 * @throws Error naming minDf/maxDf/maxFeatures when out of range or leaving no terms.
 */
export function fitVocabulary(docs: readonly string[], o: VocabularyOptions = {}): Vocabulary {
  const analyzer = o.analyzer ?? defaultAnalyzer;
  const n = docs.length;
  const minDf0 = o.minDf ?? 1;
  const maxDf0 = o.maxDf ?? 1;
  if (!(minDf0 >= 0)) throw new Error(`vectorizer: minDf must be >= 0, got ${minDf0}`);
  if (!(maxDf0 > 0)) throw new Error(`vectorizer: maxDf must be > 0, got ${maxDf0}`);
  const minDf = minDf0 < 1 ? minDf0 * n : minDf0; // < 1: a fraction of the documents
  const maxDf = maxDf0 <= 1 ? maxDf0 * n : maxDf0; // <= 1: a fraction
  const df = new Map<string, number>();
  const tf = new Map<string, number>();
  for (const d of docs) {
    const seen = new Set<string>();
    for (const t of analyzer(d)) {
      tf.set(t, (tf.get(t) ?? 0) + 1);
      if (!seen.has(t)) {
        seen.add(t);
        df.set(t, (df.get(t) ?? 0) + 1);
      }
    }
  }
  let terms = [...df.keys()].filter((t) => df.get(t)! >= minDf && df.get(t)! <= maxDf);
  if (o.maxFeatures !== undefined) {
    if (!Number.isInteger(o.maxFeatures) || o.maxFeatures < 1)
      throw new Error(`vectorizer: maxFeatures must be an integer >= 1, got ${o.maxFeatures}`);
    terms = terms
      .sort((a, b) => tf.get(b)! - tf.get(a)! || compareCodePoints(a, b))
      .slice(0, o.maxFeatures);
  }
  terms.sort(compareCodePoints);
  if (terms.length === 0)
    throw new Error('vectorizer: no terms remain (empty documents, or minDf/maxDf too strict)');
  return new Vocabulary(terms, analyzer);
}

/**
 * Term counts per document (bag of words), as CountVectorizer.transform; terms outside the
 * vocabulary are ignored. With `binary`, presence (1) instead of counts: the one-hot rows
 * of a document's words summed and clipped, the tutorials' one-hot document vector.
 * @returns (N, V) CSR.
 */
export function bagOfWords(
  vocab: Vocabulary,
  docs: readonly string[],
  o: { binary?: boolean } = {},
): CsrMatrix {
  const indptr = new Int32Array(docs.length + 1);
  const indices: number[] = [];
  const data: number[] = [];
  docs.forEach((d, r) => {
    const counts = new Map<number, number>();
    for (const t of vocab.analyzer(d)) {
      const j = vocab.index.get(t);
      if (j !== undefined) counts.set(j, (counts.get(j) ?? 0) + 1);
    }
    for (const j of [...counts.keys()].sort((a, b) => a - b)) {
      indices.push(j);
      data.push(o.binary ? 1 : counts.get(j)!);
    }
    indptr[r + 1] = indices.length;
  });
  return {
    rows: docs.length,
    cols: vocab.size,
    indptr,
    indices: Int32Array.from(indices),
    data: Float32Array.from(data),
  };
}

/**
 * The one-hot vector of one word (V): 1 at its column, or all zeros for an unknown word.
 */
export function oneHot(vocab: Vocabulary, word: string): Float32Array {
  const v = new Float32Array(vocab.size);
  const j = vocab.index.get(word);
  if (j !== undefined) v[j] = 1;
  return v;
}

/** A fitted TF-IDF model: the vocabulary and the idf of each term. */
export interface TfidfModel {
  readonly vocab: Vocabulary;
  /** (V) idf(t) = ln((1 + n) / (1 + df)) + 1 (smooth), or ln(n / df) + 1. */
  readonly idf: Float64Array;
}

/** Fit TF-IDF (TfidfVectorizer.fit): vocabulary, then idf from document frequencies. */
export function fitTfidf(
  docs: readonly string[],
  o: VocabularyOptions & { smoothIdf?: boolean } = {},
): TfidfModel {
  const vocab = fitVocabulary(docs, o);
  const counts = bagOfWords(vocab, docs, { binary: true });
  const df = new Float64Array(vocab.size);
  for (const j of counts.indices) df[j]++;
  const n = docs.length;
  const smooth = o.smoothIdf ?? true;
  const idf = df.map((d) => (smooth ? Math.log((1 + n) / (1 + d)) : Math.log(n / d)) + 1);
  return { vocab, idf };
}

/**
 * TF-IDF rows (TfidfVectorizer.transform): counts times idf, each row l2-normalized (an
 * empty row stays zero). @returns (N, V) CSR.
 */
export function tfidf(model: TfidfModel, docs: readonly string[]): CsrMatrix {
  const m = bagOfWords(model.vocab, docs);
  const data = new Float32Array(m.data.length);
  for (let r = 0; r < m.rows; r++) {
    let ss = 0;
    for (let p = m.indptr[r]; p < m.indptr[r + 1]; p++) {
      const v = m.data[p] * model.idf[m.indices[p]];
      ss += v * v;
    }
    const norm = ss > 0 ? Math.sqrt(ss) : 1;
    for (let p = m.indptr[r]; p < m.indptr[r + 1]; p++)
      data[p] = (m.data[p] * model.idf[m.indices[p]]) / norm;
  }
  return { ...m, data };
}
