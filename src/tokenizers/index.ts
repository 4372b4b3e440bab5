/**
 * Tokenizers: character-level, word-level and byte-level BPE, trained on text and stored as
 * Hugging Face tokenizer.json so that HF `tokenizers` reads them and produces the same ids.
 */

export {
  type Tokenizer,
  type EncodeOptions,
  type DecodeOptions,
  type AddedToken,
  PipelineTokenizer,
  PAD,
  BOS,
  EOS,
  UNK,
  DEFAULT_SPECIALS,
} from './tokenizer.js';
export { trainCharTokenizer, type CharTrainOptions } from './char.js';
export { trainWordTokenizer, type WordTrainOptions } from './word.js';
export { trainBPE, type BpeTrainOptions } from './bpe.js';
export {
  tokenizerFromJSON,
  loadTokenizer,
  saveTokenizer,
  TokenizerError,
  MAX_DEPTH,
  type LoadOptions,
  type SpecialRoles,
} from './json.js';
export { encodeChecked, specialTokenIds, type CheckedEncoding } from './unknown.js';
export { toByteLevel, decodeByteLevel, BYTE_TO_CHAR } from './bytelevel.js';
export {
  encodeChunks,
  chunkSafe,
  tokenizeCorpus,
  TokenBuffer,
  MAX_TOKENS,
  STREAM_OVERHEAD_BYTES,
  type CorpusOptions,
} from './stream.js';
