/**
 * Tokenizing a corpus of any size: the text comes as chunks (data/textstream.ts cuts them where
 * tokenization is unchanged) and the ids go into one Int32Array that grows in place.
 *
 * Memory. The ids live in a resizable ArrayBuffer reserved at MAX_TOKENS * 4 bytes of address
 * space and committed page by page as ids are written, so the ids cost 4 bytes per token and
 * are never copied. Everything else is bounded by the chunk size (CHUNK_CHARS characters, plus
 * the number[] of one chunk's ids) and, for BPE training, by the distinct words of the corpus.
 * Peak RSS growth of `tokenizeCorpus` is therefore at most 4 bytes per token plus a constant
 * (STREAM_OVERHEAD_BYTES, stated for the test in test/tokenizers/stream-memory.test.ts).
 * Before, `Int32Array.from(tok.encode(text))` held the text, a number[] of 8+ bytes per token
 * (grown by copying) and the typed array, and V8 aborted at ~112M tokens.
 */

import { trainBPE } from './bpe.js';
import { trainCharTokenizer } from './char.js';
import { PipelineTokenizer, type Tokenizer } from './tokenizer.js';
import type { PreTokenizerSpec } from './pipeline.js';

/** Most tokens one buffer holds: 2^30 (4 GiB of int32, V8's largest resizable ArrayBuffer). */
export const MAX_TOKENS = 2 ** 30;

/**
 * The stated memory bound's constant: 128 MiB on top of 4 bytes per token covers the chunk
 * buffers, the tokenizer, and the garbage V8 keeps between collections.
 */
export const STREAM_OVERHEAD_BYTES = 128 * 2 ** 20;

/** ES2024 resizable ArrayBuffer (Node >= 20), typed here as the project's lib is ES2022. */
interface ResizableArrayBuffer extends ArrayBuffer {
  resize(byteLength: number): void;
}
const ResizableArrayBuffer = ArrayBuffer as unknown as new (
  byteLength: number,
  options: { maxByteLength: number },
) => ResizableArrayBuffer;

/** A growable int32 buffer: in-place growth of a resizable ArrayBuffer (no copies). */
export class TokenBuffer {
  private readonly buffer = new ResizableArrayBuffer(0, { maxByteLength: MAX_TOKENS * 4 });
  private view = new Int32Array(this.buffer);
  /** Number of ids written. */
  length = 0;

  /**
   * Append ids.
   * @throws RangeError naming `what` past MAX_TOKENS ids.
   */
  push(ids: readonly number[], what: string): void {
    const need = this.length + ids.length;
    if (need > this.view.length) {
      if (need > MAX_TOKENS)
        throw new RangeError(`${what}: more than ${MAX_TOKENS} tokens, the most one buffer holds`);
      this.buffer.resize(Math.min(MAX_TOKENS, Math.max(need, 2 * this.view.length, 1024)) * 4);
      this.view = new Int32Array(this.buffer);
    }
    this.view.set(ids, this.length);
    this.length = need;
  }

  /**
   * The ids written, as a fixed-length view. The buffer is not shrunk: V8 zero-fills the
   * released tail when shrinking, which touches (commits) it and once raised peak RSS by the
   * whole unused capacity (1 GB at 300 MB of text); never-written pages cost no memory.
   */
  ids(): Int32Array {
    return new Int32Array(this.buffer, 0, this.length);
  }
}

/**
 * True if encoding safe chunks (data/textstream.ts) one by one equals encoding their
 * concatenation: no added token contains or strips white space, no ByteLevel pre-tokenizer adds
 * a prefix space, and a BPE with merges has a pre-tokenizer. True for every tokenizer trained
 * here; a tokenizer.json from elsewhere may fail it.
 */
export function chunkSafe(tok: Tokenizer): boolean {
  if (!(tok instanceof PipelineTokenizer)) return false;
  const p = tok.parts;
  const prefixSpace = (s: PreTokenizerSpec): boolean =>
    s.type === 'ByteLevel'
      ? s.add_prefix_space
      : s.type === 'Sequence' && s.pretokenizers.some(prefixSpace);
  if (
    p.preTokenizer === null
      ? p.model.type === 'BPE' && p.model.merges.length > 0
      : prefixSpace(p.preTokenizer)
  )
    return false;
  return p.addedTokens.every((t) => !t.lstrip && !t.rstrip && !/\p{White_Space}/u.test(t.content));
}

/**
 * Encode a text given as chunks into one Int32Array. Equal to `tok.encode(chunks.join(''))`
 * when the chunks are cut at safe positions (data/textstream.ts); a tokenizer that is not
 * chunkSafe is given the joined text instead (correct, but without the memory bound).
 * @param tok the tokenizer.
 * @param chunks the text, in order.
 * @param what names the text in errors (e.g. the file path).
 * @returns (N) int32 token ids.
 * @throws RangeError past MAX_TOKENS tokens.
 */
export function encodeChunks(tok: Tokenizer, chunks: Iterable<string>, what = 'text'): Int32Array {
  const out = new TokenBuffer();
  if (!chunkSafe(tok)) out.push(tok.encode([...chunks].join('')), what);
  else for (const chunk of chunks) out.push(tok.encode(chunk), what);
  return out.ids();
}

/** Options of tokenizeCorpus. */
export interface CorpusOptions {
  /** 'char' (default) or byte-level 'bpe'. */
  tokenizer?: 'char' | 'bpe';
  /** BPE vocabulary size. Default 4000. */
  vocabSize?: number;
  /** Names the text in errors. */
  what?: string;
}

/**
 * Train a tokenizer on a corpus and encode the corpus with it, as `train --task lm` does: one
 * pass to train (counting characters or words), one pass to encode. Memory: see module doc.
 * @param corpus the text as chunks, iterable twice (e.g. textChunks(textFile(path))).
 * @returns the tokenizer and (N) int32 ids of the whole corpus.
 * @throws the corpus' own errors (DataError naming the file for invalid UTF-8 or an overlong
 *   stretch), RangeError naming `o.what` past MAX_TOKENS tokens.
 */
export function tokenizeCorpus(
  corpus: Iterable<string>,
  o: CorpusOptions = {},
): { tokenizer: Tokenizer; ids: Int32Array } {
  const tokenizer =
    (o.tokenizer ?? 'char') === 'char'
      ? trainCharTokenizer(corpus)
      : trainBPE(corpus, { vocabSize: o.vocabSize ?? 4000 });
  return { tokenizer, ids: encodeChunks(tokenizer, corpus, o.what) };
}
