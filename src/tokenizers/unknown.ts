/**
 * Nothing silent at the edges of the vocabulary: `encodeChecked` says which characters (or
 * words) of a text had no token and became <unk> (or were dropped), and `specialTokenIds` lists
 * the ids that generation must never produce.
 */

import { PipelineTokenizer, type Tokenizer } from './tokenizer.js';

/** At most this many distinct unknown pieces are listed in a warning. */
const MAX_LISTED = 10;

/** The result of encodeChecked. */
export interface CheckedEncoding {
  /** The ids, exactly as `tok.encode(text)`. */
  ids: number[];
  /** Unknown piece -> occurrences, in order of first occurrence. */
  unknown: Map<string, number>;
  /**
   * One line for the user when something was unknown, else null, e.g. `--prompt: 3 characters
   * are not in the vocabulary and became <unk>: "é" (2), "€"`.
   */
  warning: string | null;
}

/**
 * Encode a text and report the pieces that have no token: characters for char and BPE models,
 * words for word-level models.
 * @param tok the tokenizer.
 * @param text the text (e.g. a prompt).
 * @param what names the input in the warning (e.g. '--prompt').
 * @returns the ids, the unknown pieces and a warning line (null if none).
 */
export function encodeChecked(tok: Tokenizer, text: string, what: string): CheckedEncoding {
  const unknown = new Map<string, number>();
  const ids = tok.encode(text, {
    onUnknown: (piece) => unknown.set(piece, (unknown.get(piece) ?? 0) + 1),
  });
  if (unknown.size === 0) return { ids, unknown, warning: null };
  let n = 0;
  for (const c of unknown.values()) n += c;
  const unit = tok.kind === 'word' ? 'word' : 'character';
  const fate = tok.unkId >= 0 ? 'became <unk>' : 'were dropped';
  const listed = [...unknown]
    .slice(0, MAX_LISTED)
    .map(
      ([p, c]) =>
        JSON.stringify(p.length > 40 ? p.slice(0, 40) + '...' : p) + (c > 1 ? ` (${c})` : ''),
    );
  const more = unknown.size > MAX_LISTED ? `, and ${unknown.size - MAX_LISTED} more` : '';
  const warning =
    `${what}: ${n} ${unit}${n === 1 ? ' is' : 's are'} not in the vocabulary and ` +
    `${n === 1 ? fate.replace('were', 'was') : fate}: ${listed.join(', ')}${more}`;
  return { ids, unknown, warning };
}

/**
 * The ids of the special tokens: <pad>, <bos>, <eos>, <unk> where the tokenizer has them, and
 * every added token marked special. Generation suppresses these (see generate's suppressIds).
 * @returns distinct ids, ascending.
 */
export function specialTokenIds(tok: Tokenizer): number[] {
  const ids = new Set([tok.padId, tok.bosId, tok.eosId, tok.unkId].filter((id) => id >= 0));
  if (tok instanceof PipelineTokenizer)
    for (const t of tok.parts.addedTokens) if (t.special) ids.add(t.id);
  return [...ids].sort((a, b) => a - b);
}
