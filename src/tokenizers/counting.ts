/** Helpers shared by the trainers: word counting through the pipeline, and a total order. */

import { DEFAULT_SPECIALS, splitAdded, type AddedToken } from './tokenizer.js';
import { normalize, preTokenize, type NormalizerSpec, type PreTokenizerSpec } from './pipeline.js';
import { splitLongWord } from './models.js';

const SPECIAL_INDEX: ReadonlyMap<string, AddedToken[]> = new Map(
  DEFAULT_SPECIALS.map((content, id) => [
    content[0],
    [{ id, content, special: true, lstrip: false, rstrip: false, normalized: false }],
  ]),
);

/**
 * Visit the words of a corpus as encode() sees them: special tokens in the text are cut out
 * (not visited), the rest is normalized and pre-tokenized. Holds one text at a time, so a
 * corpus given as chunks (data/textstream.ts) is visited in bounded memory.
 * @param texts the corpus; any iterable of strings (consumed once).
 * @param visit called with each word, in order.
 * @throws TypeError if `texts` is a string or holds a non-string.
 */
export function forEachWord(
  texts: Iterable<string>,
  normalizer: NormalizerSpec | null,
  preTokenizer: PreTokenizerSpec | null,
  visit: (word: string) => void,
): void {
  if (typeof texts === 'string')
    throw new TypeError('texts must be an iterable of strings, not a string');
  for (const text of texts) {
    if (typeof text !== 'string')
      throw new TypeError(`texts must hold strings, got ${typeof text}`);
    for (const seg of splitAdded(text, SPECIAL_INDEX)) {
      if (typeof seg !== 'string') continue;
      for (const w of preTokenize(preTokenizer, normalize(normalizer, seg))) visit(w);
    }
  }
}

/**
 * Count the words of a corpus as encode() would see them (see forEachWord).
 * @param maxWord words longer than this are counted as their pieces (see splitLongWord), as a
 *   BPE model encodes them. Default: no limit.
 * @returns word -> count, in order of first appearance.
 */
export function countWords(
  texts: Iterable<string>,
  normalizer: NormalizerSpec | null,
  preTokenizer: PreTokenizerSpec | null,
  maxWord = Infinity,
): Map<string, number> {
  const counts = new Map<string, number>();
  const add = (w: string): void => void counts.set(w, (counts.get(w) ?? 0) + 1);
  forEachWord(texts, normalizer, preTokenizer, (w) => {
    if (w.length <= maxWord) add(w);
    else for (const piece of splitLongWord(w, maxWord)) add(piece);
  });
  return counts;
}

/** Compare strings by Unicode code points (= UTF-8 byte order, = Rust `str` order). */
export function compareCodePoints(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(j)!;
    if (x !== y) return x - y;
    i += x > 0xffff ? 2 : 1;
    j += y > 0xffff ? 2 : 1;
  }
  return a.length - i - (b.length - j);
}

/**
 * Rank (token, count) entries: count descending, ties by code point order ascending; keep those
 * with count >= minFrequency, at most `limit`.
 */
export function rankByCount(
  counts: ReadonlyMap<string, number>,
  minFrequency: number,
  limit: number,
): string[] {
  return [...counts]
    .filter(([, c]) => c >= minFrequency)
    .sort((x, y) => y[1] - x[1] || compareCodePoints(x[0], y[0]))
    .slice(0, Math.max(0, limit))
    .map(([t]) => t);
}

/** Check an optional positive-integer option; returns the value or the default. */
export function intOption(
  fn: string,
  name: string,
  value: number | undefined,
  dflt: number,
  min: number,
): number {
  if (value === undefined) return dflt;
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(`${fn}: option '${name}' must be an integer >= ${min}, got ${value}`);
  }
  return value;
}

/** Reject option keys that the trainer does not know (typos would otherwise pass silently). */
export function checkKeys(fn: string, opts: object, known: readonly string[]): void {
  for (const k of Object.keys(opts)) {
    if (!known.includes(k)) {
      throw new TypeError(`${fn}: unknown option '${k}' (known: ${known.join(', ')})`);
    }
  }
}
