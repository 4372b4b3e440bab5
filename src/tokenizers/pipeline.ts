/**
 * The text-processing stages around a tokenizer model, each one a Hugging Face `tokenizers`
 * component with the same JSON spec and the same behaviour (checked against HF's Rust
 * implementation in test/tokenizers/hf.test.ts):
 *   normalizer   text -> text          (Lowercase, NFC, NFD, NFKC, NFKD, Sequence)
 *   pre-tokenizer text -> words        (ByteLevel, Whitespace, WhitespaceSplit, BertPreTokenizer,
 *                                       Sequence)
 *   decoder      tokens -> text        (Fuse, ByteLevel; none = join with single spaces)
 * Unsupported types are rejected by the JSON reader (json.ts) with a message naming them.
 */

import { toByteLevel, decodeByteLevel } from './bytelevel.js';

/** HF normalizer spec (the `normalizer` field of tokenizer.json). */
export type NormalizerSpec =
  | { type: 'Lowercase' }
  | { type: 'NFC' | 'NFD' | 'NFKC' | 'NFKD' }
  | { type: 'Sequence'; normalizers: NormalizerSpec[] };

/** HF pre-tokenizer spec (the `pre_tokenizer` field of tokenizer.json). */
export type PreTokenizerSpec =
  | { type: 'ByteLevel'; add_prefix_space: boolean; trim_offsets: boolean; use_regex: boolean }
  | { type: 'Whitespace' }
  | { type: 'WhitespaceSplit' }
  | { type: 'BertPreTokenizer' }
  | { type: 'Sequence'; pretokenizers: PreTokenizerSpec[] };

/** HF decoder spec (the `decoder` field of tokenizer.json). */
export type DecoderSpec =
  | { type: 'Fuse' }
  | { type: 'ByteLevel'; add_prefix_space: boolean; trim_offsets: boolean; use_regex: boolean };

/**
 * Apply a normalizer. Lowercase maps each code point on its own (Rust `char::to_lowercase`, so
 * no final-sigma rule: 'ΟΔΟΣ' -> 'οδοσ'), as HF does.
 * @param spec normalizer spec, or null for identity.
 * @param text input text.
 * @returns normalized text.
 */
export function normalize(spec: NormalizerSpec | null, text: string): string {
  if (spec === null) return text;
  switch (spec.type) {
    case 'Lowercase': {
      let s = '';
      for (const ch of text) s += ch.toLowerCase();
      return s;
    }
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD':
      return text.normalize(spec.type);
    case 'Sequence':
      return spec.normalizers.reduce((t, n) => normalize(n, t), text);
  }
}

// Rust `regex` Unicode classes, as HF's Rust code sees them: \w and \s (char::is_whitespace).
const W = String.raw`\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}`;
const S = String.raw`\p{White_Space}`;

/** HF `Whitespace` pre-tokenizer: the regex `\w+|[^\w\s]+` (Unicode classes). */
const WHITESPACE_RE = new RegExp(`[${W}]+|[^${W}${S}]+`, 'gu');
/** GPT-2's pre-tokenization regex (HF `ByteLevel` with use_regex). */
const GPT2_RE = new RegExp(
  String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^${S}\p{L}\p{N}]+|[${S}]+(?![^${S}])|[${S}]+`,
  'gu',
);
const SPACE_RE = new RegExp(`[^${S}]+`, 'gu');
/** BERT punctuation: ASCII punctuation or Unicode category P. */
const PUNCT = String.raw`\p{P}\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e`;
const BERT_RE = new RegExp(`[${PUNCT}]|[^${S}${PUNCT}]+`, 'gu');

/**
 * Split text into words (pre-tokens) as HF's pre-tokenizer does; ByteLevel also maps each word
 * to its byte-level form (see bytelevel.ts).
 * @param spec pre-tokenizer spec, or null for a single word (the whole text; empty text -> none).
 * @param text normalized text of one segment between added tokens.
 * @returns the words, in order.
 */
export function preTokenize(spec: PreTokenizerSpec | null, text: string): string[] {
  if (text === '') return [];
  if (spec === null) return [text];
  switch (spec.type) {
    case 'Whitespace':
      return text.match(WHITESPACE_RE) ?? [];
    case 'WhitespaceSplit':
      return text.match(SPACE_RE) ?? [];
    case 'BertPreTokenizer':
      return text.match(BERT_RE) ?? [];
    case 'ByteLevel': {
      const t = spec.add_prefix_space && !text.startsWith(' ') ? ' ' + text : text;
      const words = spec.use_regex ? (t.match(GPT2_RE) ?? []) : [t];
      return words.map(toByteLevel);
    }
    case 'Sequence': {
      let words = [text];
      for (const p of spec.pretokenizers) words = words.flatMap((w) => preTokenize(p, w));
      return words;
    }
  }
}

/**
 * Turn tokens back into text as HF's decoder does.
 * @param spec decoder spec; null joins the tokens with single spaces (HF's default).
 * @param tokens token strings.
 * @returns the text.
 */
export function decodeTokens(spec: DecoderSpec | null, tokens: readonly string[]): string {
  if (spec === null) return tokens.join(' ');
  switch (spec.type) {
    case 'Fuse':
      return tokens.join('');
    case 'ByteLevel':
      return decodeByteLevel(tokens);
  }
}
