/**
 * Inputs longer than a model's context are cut, but never silently: `clipAll` cuts token-id
 * sequences to a maximum length and counts the ones it cut, and `truncationWarning` turns the
 * count into one line for the user (printed once per run, not once per input).
 */

/** Which end of a too-long sequence to keep. */
export type KeepSide = 'start' | 'end';

/** The result of clipAll. */
export interface Clipped {
  /** The sequences, each at most maxLen long (the same arrays when not cut). */
  seqs: number[][];
  /** How many sequences were longer than maxLen. */
  cut: number;
  /** The longest input length seen (before cutting). */
  longest: number;
}

/**
 * Cut each sequence to at most `maxLen` ids.
 * @param seqs token-id sequences.
 * @param maxLen the largest length kept (the model's context for this input).
 * @param keep 'start' keeps the first maxLen ids (encoders, classifiers); 'end' keeps the last
 *   (a language model's prompt: the most recent context).
 * @returns the clipped sequences and the number cut.
 * @throws Error naming maxLen if it is not a non-negative integer.
 */
export function clipAll(seqs: readonly number[][], maxLen: number, keep: KeepSide = 'start'): Clipped {
  if (!Number.isInteger(maxLen) || maxLen < 0)
    throw new Error(`clipAll: maxLen must be a non-negative integer, got ${maxLen}`);
  let cut = 0;
  let longest = 0;
  const out = seqs.map((s) => {
    longest = Math.max(longest, s.length);
    if (s.length <= maxLen) return s;
    cut++;
    return keep === 'start' ? s.slice(0, maxLen) : s.slice(s.length - maxLen);
  });
  return { seqs: out, cut, longest };
}

/**
 * One warning line for inputs cut to the context, or null when none was cut, e.g.
 * `2 of 5 inputs are longer than the model's context of 64 tokens (longest 140) and were cut to
 * their first 64 tokens`.
 * @param c the result of clipAll (or counts summed over several calls).
 * @param total how many inputs there were.
 * @param maxLen the length they were cut to.
 */
export function truncationWarning(
  c: { cut: number; longest: number },
  total: number,
  maxLen: number,
  keep: KeepSide = 'start',
): string | null {
  if (c.cut === 0) return null;
  const inputs = total === 1 ? 'the input is' : `${c.cut} of ${total} inputs are`;
  return (
    `${inputs} longer than the model's context of ${maxLen} tokens (longest ${c.longest}) ` +
    `and ${total === 1 ? 'was' : 'were'} cut to ${c.cut === 1 && total === 1 ? 'its' : 'their'} ${keep === 'start' ? 'first' : 'last'} ${maxLen} tokens`
  );
}

/**
 * clipAll, then tell `onWarning` once (truncationWarning) if anything was cut.
 * @returns the clipped sequences.
 */
export function clipWithWarning(
  seqs: readonly number[][],
  maxLen: number,
  keep: KeepSide,
  onWarning: ((message: string) => void) | undefined,
): number[][] {
  const c = clipAll(seqs, maxLen, keep);
  const warning = truncationWarning(c, seqs.length, maxLen, keep);
  if (warning !== null) onWarning?.(warning);
  return c.seqs;
}
