/**
 * Word-level tokenizer: HF `WordLevel` model behind the `Whitespace` pre-tokenizer, which splits
 * text by the regex `\w+|[^\w\s]+` (runs of word characters, runs of other non-space
 * characters: "Hello, world!!" -> Hello | , | world | !!). Optional `Lowercase` normalizer.
 *
 * decode is NOT an exact inverse: whitespace is lost and HF's default decoder joins tokens with
 * single spaces ("Hello, world!" -> "Hello , world !"), unknown words come back as "<unk>", and
 * lowercasing is not undone.
 */

import { WordLevelModel } from './models.js';
import {
  PipelineTokenizer,
  defaultAddedTokens,
  DEFAULT_SPECIALS,
  PAD,
  BOS,
  EOS,
  UNK,
} from './tokenizer.js';
import { countWords, rankByCount, intOption, checkKeys } from './counting.js';
import type { NormalizerSpec } from './pipeline.js';

/** Options of trainWordTokenizer. */
export interface WordTrainOptions {
  /** Largest vocabulary, including the 4 specials. Default: no limit. */
  vocabSize?: number;
  /** Keep words seen at least this often. Default 1. */
  minFrequency?: number;
  /** Lowercase the text first (HF `Lowercase` normalizer, per code point). Default false. */
  lowercase?: boolean;
}

/**
 * Train a word-level tokenizer: ids 0..3 are <pad> <bos> <eos> <unk>, then words by count
 * descending, ties by code point order ascending (deterministic). Special-token strings in the
 * texts are not counted.
 * @param texts training corpus.
 * @param opts see WordTrainOptions.
 * @returns a tokenizer of kind 'word'; unseen words encode to <unk>.
 * @throws RangeError / TypeError on invalid or unknown options.
 */
export function trainWordTokenizer(
  texts: Iterable<string>,
  opts: WordTrainOptions = {},
): PipelineTokenizer {
  checkKeys('trainWordTokenizer', opts, ['vocabSize', 'minFrequency', 'lowercase']);
  const nSpecial = DEFAULT_SPECIALS.length;
  const vocabSize = intOption(
    'trainWordTokenizer',
    'vocabSize',
    opts.vocabSize,
    Infinity,
    nSpecial,
  );
  const minFrequency = intOption('trainWordTokenizer', 'minFrequency', opts.minFrequency, 1, 1);
  const normalizer: NormalizerSpec | null = opts.lowercase ? { type: 'Lowercase' } : null;
  const preTokenizer = { type: 'Whitespace' } as const;
  const counts = countWords(texts, normalizer, preTokenizer);
  const vocab = new Map<string, number>(DEFAULT_SPECIALS.map((t, i) => [t, i]));
  for (const w of rankByCount(counts, minFrequency, Infinity)) {
    if (vocab.size >= vocabSize) break;
    if (!vocab.has(w)) vocab.set(w, vocab.size);
  }
  return new PipelineTokenizer({
    kind: 'word',
    normalizer,
    preTokenizer,
    model: new WordLevelModel(vocab, UNK),
    decoder: null,
    postProcessor: null,
    addedTokens: defaultAddedTokens(),
    specials: { pad: PAD, bos: BOS, eos: EOS, unk: UNK },
  });
}
