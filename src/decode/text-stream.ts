/**
 * Text as it is generated: tokens arrive one at a time from a step iterator (generateSteps,
 * greedySteps) and come out as pieces of text whose concatenation is exactly the text the
 * whole sequence decodes to (transformers.js's TextStreamer does the same job).
 *
 * A byte-level BPE token may hold part of a UTF-8 character, so the piece of one token is
 * not `decode([id])`: the streamer decodes all tokens so far and hands out what is new,
 * holding back a trailing U+FFFD (an incomplete character) until the next token completes it;
 * with `trim`, it also holds back trailing white space (the final text is trimmed, as
 * translateIds trims) and drops leading white space.
 *
 * No shapes here: ids are token ids of the tokenizer's vocabulary.
 */
import type { Tokenizer } from '../tokenizers/index.js';

/** Incremental detokenization of a growing token sequence. */
export class TextStreamer {
  private readonly ids: number[] = [];
  private emitted = '';

  /**
   * @param tokenizer decodes the ids (with skipSpecial: special tokens produce no text)
   * @param trim the final text is `decode(ids).trim()` (translation's output) instead of
   *   `decode(ids)`
   */
  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly trim = false,
  ) {}

  /**
   * Add one token; returns the text that is now certain ('' when nothing is).
   * @throws Error if the text decoded so far no longer starts with what was handed out (a
   *   tokenizer whose decoding of a prefix is not a prefix; none of ours).
   */
  push(id: number): string {
    this.ids.push(id);
    let text = this.decoded();
    if (this.trim) text = text.trimEnd();
    if (text.endsWith('\uFFFD')) text = text.slice(0, -1);
    return this.advance(text);
  }

  /** The rest of the text at the end of the sequence ('' when all was handed out). */
  flush(): string {
    const text = this.decoded();
    return this.advance(this.trim ? text.trimEnd() : text);
  }

  /** Everything handed out so far. */
  get text(): string {
    return this.emitted;
  }

  private decoded(): string {
    const text = this.tokenizer.decode(this.ids, { skipSpecial: true });
    return this.trim ? text.trimStart() : text;
  }

  private advance(text: string): string {
    if (text.length <= this.emitted.length) return '';
    if (!text.startsWith(this.emitted))
      throw new Error(
        `TextStreamer: the decoded text ${JSON.stringify(text)} does not extend ${JSON.stringify(this.emitted)}`,
      );
    const piece = text.slice(this.emitted.length);
    this.emitted = text;
    return piece;
  }
}

/** A promise resolved on a later turn of the event loop (setImmediate; setTimeout in browsers). */
function nextTurn(): Promise<void> {
  return new Promise((resolve) =>
    typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0),
  );
}

/**
 * The text pieces of a token step iterator, as an async iterator: between steps it waits for
 * the event loop (nextTurn), so a server (or a page) can write each piece and serve other requests
 * while a long generation runs. Empty pieces are not yielded. Breaking out of the loop
 * returns the step iterator (the model's training flag is restored).
 * @param steps yields token ids (generateSteps, generateXLSteps, a greedySteps source)
 */
export async function* streamText(
  steps: IterableIterator<number>,
  streamer: TextStreamer,
): AsyncGenerator<string, void, undefined> {
  try {
    for (;;) {
      await nextTurn();
      const r = steps.next();
      if (r.done) break;
      const piece = streamer.push(r.value);
      if (piece !== '') yield piece;
    }
    const rest = streamer.flush();
    if (rest !== '') yield rest;
  } finally {
    steps.return?.();
  }
}
