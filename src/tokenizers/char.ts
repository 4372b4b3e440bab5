/**
 * Character-level tokenizer: one token per Unicode code point. Stored for Hugging Face as a BPE
 * model with no merges and no pre-tokenizer (HF's BPE then splits the text into characters and
 * maps characters outside the vocabulary to <unk>), with the `Fuse` decoder so decoding
 * concatenates the characters (HF's default decoder would join them with spaces).
 */

import { BpeModel } from './models.js';
import {
  PipelineTokenizer,
  defaultAddedTokens,
  DEFAULT_SPECIALS,
  PAD,
  BOS,
  EOS,
  UNK,
} from './tokenizer.js';
import { forEachWord, rankByCount, intOption, checkKeys } from './counting.js';

/** Options of trainCharTokenizer. */
export interface CharTrainOptions {
  /** Largest vocabulary, including the 4 specials. Default: no limit. */
  vocabSize?: number;
  /** Keep characters seen at least this often. Default 1. */
  minFrequency?: number;
}

/**
 * Train a character-level tokenizer: ids 0..3 are <pad> <bos> <eos> <unk>, then the characters
 * by count descending, ties by code point ascending (deterministic). Special-token strings in
 * the texts are not counted.
 * @param texts training corpus.
 * @param opts see CharTrainOptions.
 * @returns a tokenizer of kind 'char'; unseen characters encode to <unk>.
 * @throws RangeError / TypeError on invalid or unknown options.
 */
export function trainCharTokenizer(
  texts: Iterable<string>,
  opts: CharTrainOptions = {},
): PipelineTokenizer {
  checkKeys('trainCharTokenizer', opts, ['vocabSize', 'minFrequency']);
  const nSpecial = DEFAULT_SPECIALS.length;
  const vocabSize = intOption(
    'trainCharTokenizer',
    'vocabSize',
    opts.vocabSize,
    Infinity,
    nSpecial,
  );
  const minFrequency = intOption('trainCharTokenizer', 'minFrequency', opts.minFrequency, 1, 1);
  const counts = new Map<string, number>();
  forEachWord(texts, null, null, (text) => {
    for (const ch of text) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  });
  const chars = rankByCount(counts, minFrequency, vocabSize - nSpecial);
  const vocab = new Map<string, number>(DEFAULT_SPECIALS.map((t, i) => [t, i]));
  for (const ch of chars) vocab.set(ch, vocab.size);
  return new PipelineTokenizer({
    kind: 'char',
    normalizer: null,
    preTokenizer: null,
    model: new BpeModel(vocab, [], { unkToken: UNK }),
    decoder: { type: 'Fuse' },
    postProcessor: null,
    addedTokens: defaultAddedTokens(),
    specials: { pad: PAD, bos: BOS, eos: EOS, unk: UNK },
  });
}
