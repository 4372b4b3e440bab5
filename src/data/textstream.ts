/**
 * Text of any size for language modelling, read from disk in blocks and cut into chunks that
 * tokenize exactly as the whole text does, so that training data is never held as one string
 * (V8 strings stop at 2^29 - 24 characters) and tokenization memory does not grow with the text
 * but with its tokens (see tokenizers/stream.ts).
 *
 * Where a cut is safe. A chunk ends at position p of the text only if
 *   (A) text[p] is ' ' and text[p - 1], text[p + 1] are not white space, or
 *   (B) text[p - 1] is '\n' and text[p - 2], text[p] are not white space.
 * Every pre-tokenizer of this library then produces the same pieces from the chunks as from the
 * whole text: Whitespace, WhitespaceSplit and BertPreTokenizer never match white space across
 * p; GPT-2's regex (ByteLevel without a prefix space) ends the match holding text[p - 1] at p
 * in both cases (a letter, digit or punctuation run stops at white space; in (B) '\n' is a
 * token of its own either way) and restarts at p; without a pre-tokenizer (char level) any
 * cut between code points is safe. No added token of ours contains white space, so none is
 * split. Text with no safe cut for MAX_STRETCH characters is refused, naming file and line.
 *
 * Files: strict UTF-8 (refused with the byte offset of the first invalid sequence or NUL
 * byte), a leading BOM stripped, CRLF read as LF, as readText does.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { DataError } from './tsv.js';
import { describeUtf8Problem, findUtf8Problem } from './utf8.js';

/** Language-modelling text: in memory, or a file read in blocks every time it is iterated. */
export type TextSource = string | { readonly path: string };

/** Chunks are cut near this many UTF-16 code units. */
export const CHUNK_CHARS = 1 << 13;
/** The longest stretch of text without a safe cut that is accepted (1 Mi characters). */
export const MAX_STRETCH = 1 << 20;
/** Bytes read from the file at a time. */
const BLOCK_BYTES = 1 << 20;

/**
 * A text file as a TextSource.
 * @throws DataError naming the path if it is missing, a directory or empty.
 */
export function textFile(path: string): { readonly path: string } {
  if (!existsSync(path)) throw new DataError(`${path}: no such file`);
  const st = statSync(path);
  if (st.isDirectory()) throw new DataError(`${path}: is a directory, not a file`);
  if (st.size === 0) throw new DataError(`${path}: file is empty`);
  return { path };
}

/**
 * The chunks of a text, cut only at safe positions (module doc); their concatenation is the
 * text (for a file: its decoded text, BOM stripped, CRLF as LF).
 * @param source a string or a file.
 * @returns an iterable that can be iterated more than once (a file is read again each time).
 * @throws DataError (while iterating) naming the file and byte offset of invalid UTF-8, or the
 *   file (or `text`) and line of a stretch longer than MAX_STRETCH without a safe cut.
 */
export function textChunks(source: TextSource): Iterable<string> {
  return {
    [Symbol.iterator]: () =>
      typeof source === 'string' ? chunkString(source) : chunkFile(source.path),
  };
}

function* chunkString(text: string): Generator<string> {
  yield* new Chunker('text').push(text, true);
}

function* chunkFile(path: string): Generator<string> {
  const chunker = new Chunker(path);
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const block = new Uint8Array(BLOCK_BYTES);
  const tail = new Uint8Array(3); // the last bytes of the previous block, for error offsets
  let tailLen = 0;
  let offset = 0; // file offset of `block`
  let first = true;
  let pendingCR = false;
  const fd = openSync(path, 'r');
  try {
    for (;;) {
      const n = readSync(fd, block, 0, BLOCK_BYTES, null);
      const bytes = block.subarray(0, n);
      let text: string;
      try {
        text = n > 0 ? decoder.decode(bytes, { stream: true }) : decoder.decode();
      } catch {
        throw utf8Error(path, tail.subarray(0, tailLen), bytes, offset, n === 0);
      }
      const nul = bytes.indexOf(0);
      if (nul >= 0) throw utf8Error(path, tail.subarray(0, 0), bytes.subarray(0, nul + 1), offset, true);
      if (first && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      first = false;
      if (pendingCR) text = '\r' + text;
      pendingCR = n > 0 && text.endsWith('\r');
      if (pendingCR) text = text.slice(0, -1);
      yield* chunker.push(text.replace(/\r\n/g, '\n'), n === 0);
      if (n === 0) return;
      const last = new Uint8Array([...tail.subarray(0, tailLen), ...bytes.subarray(-3)]);
      tailLen = Math.min(3, last.length);
      tail.set(last.subarray(last.length - tailLen));
      offset += n;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * The DataError of a block the fatal decoder refused: scan from the start of the sequence that
 * may have begun in the previous block's last bytes.
 */
function utf8Error(
  path: string,
  tail: Uint8Array,
  bytes: Uint8Array,
  offset: number,
  atEnd: boolean,
): DataError {
  let start = tail.length; // the first byte of `tail` that starts a sequence, else none
  for (let i = 0; i < tail.length; i++) if ((tail[i] & 0xc0) !== 0x80) start = i;
  const joined = new Uint8Array(tail.length - start + bytes.length);
  joined.set(tail.subarray(start));
  joined.set(bytes, tail.length - start);
  const p = findUtf8Problem(joined, 0, joined.length, atEnd) ?? { offset: 0, reason: '?' };
  const at = offset - (tail.length - start) + p.offset;
  return new DataError(`${path}: ${describeUtf8Problem({ offset: at, reason: p.reason })}`);
}

/** Unicode White_Space (the `\s` of the pre-tokenizers' regexes). */
function isWhiteSpace(c: number): boolean {
  return (
    (c >= 0x09 && c <= 0x0d) ||
    c === 0x20 ||
    c === 0x85 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}

/** True if a chunk may end before s[p] (rules A and B of the module doc). */
function safeCut(s: string, p: number): boolean {
  if (p < 2 || p + 1 >= s.length) return false;
  const c = s.charCodeAt(p);
  if (c === 0x20) return !isWhiteSpace(s.charCodeAt(p - 1)) && !isWhiteSpace(s.charCodeAt(p + 1));
  return s.charCodeAt(p - 1) === 0x0a && !isWhiteSpace(c) && !isWhiteSpace(s.charCodeAt(p - 2));
}

/** Cuts a stream of text pieces into chunks of about CHUNK_CHARS at safe positions. */
class Chunker {
  private buf = '';
  /** 1-based line number of buf[0]. */
  private line = 1;

  constructor(private readonly where: string) {}

  /**
   * Add text; yield the chunks that are complete.
   * @param final true for the last piece: everything left is yielded.
   */
  *push(text: string, final: boolean): Generator<string> {
    let buf = this.buf + text;
    let pos = 0;
    while (buf.length - pos > CHUNK_CHARS) {
      const cut = findCut(buf, pos);
      if (cut < 0) break; // wait for more text (or refuse a stretch beyond MAX_STRETCH below)
      yield this.advance(buf, pos, cut);
      pos = cut;
    }
    buf = buf.slice(pos);
    if (buf.length > MAX_STRETCH) {
      throw new DataError(
        `${this.where}:${this.line}: more than ${MAX_STRETCH} characters without a space or ` +
          'line break between words; such text cannot be tokenized in bounded memory (break it up)',
      );
    }
    this.buf = buf;
    if (final && buf.length > 0) {
      this.buf = '';
      yield buf;
    }
  }

  /** buf[pos, cut), counting its lines. */
  private advance(buf: string, pos: number, cut: number): string {
    for (let i = buf.indexOf('\n', pos); i >= 0 && i < cut; i = buf.indexOf('\n', i + 1))
      this.line++;
    return buf.slice(pos, cut);
  }
}

/**
 * The last safe cut at most CHUNK_CHARS after `pos`, else the first one after that up to
 * MAX_STRETCH after `pos`, else -1.
 */
function findCut(buf: string, pos: number): number {
  const target = pos + CHUNK_CHARS;
  for (let p = target; p > pos; p--) if (safeCut(buf, p)) return p;
  const end = Math.min(buf.length, pos + MAX_STRETCH + 1);
  for (let p = target + 1; p < end; p++) if (safeCut(buf, p)) return p;
  return -1;
}
