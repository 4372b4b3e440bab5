/**
 * Evaluation metrics: sacreBLEU-compatible BLEU, perplexity and accuracy.
 */
export {
  BleuScore,
  SMOOTH_DEFAULTS,
  closestRefLength,
  computeBleu,
  corpusBleu,
  sentenceBleu,
  type BleuOptions,
  type BleuTokenizer,
  type SmoothMethod,
} from './bleu.js';
export { tokenize13a, tokenizeRegexp } from './tokenizer13a.js';
export { perplexity } from './perplexity.js';
export { accuracy, tokenAccuracy } from './accuracy.js';
export {
  bleuByLength,
  formatBleuByLength,
  lengthBuckets,
  sourceLength13a,
  DEFAULT_LENGTH_BOUNDS,
  type LengthBucketBleu,
} from './bleu-buckets.js';
