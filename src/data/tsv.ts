/**
 * Plain-text data files: tab-separated pairs for translation and classification, and raw
 * text for language modelling. Every loader returns plain JS arrays and reports each
 * malformed line by file and 1-based line number, e.g.
 * `data.tsv:17: expected 'source<TAB>target', found 1 field`.
 *
 * Common rules for every file: strict UTF-8 (invalid bytes or a NUL byte are refused, naming the
 * byte offset); a leading byte-order mark is stripped; CRLF and LF line
 * ends are both accepted; empty (or whitespace-only) lines are skipped; there is no header
 * line and no quoting (a field cannot contain a tab or a line break).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { decodeUtf8Strict } from './utf8.js';

/** A data file or data set could not be read: names the file (and line) or the fix. */
export class DataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataError';
  }
}

/** One translation example: a source sentence and its reference translation. */
export interface ParallelPair {
  source: string;
  target: string;
}

/** One classification example: a text and its class label (a string such as 'spam'). */
export interface LabeledText {
  text: string;
  label: string;
}

/**
 * Read a whole file as bytes.
 * @throws DataError naming the path if it does not exist or is a directory.
 */
export function readBytes(path: string): Buffer {
  if (!existsSync(path)) throw new DataError(`${path}: no such file`);
  if (statSync(path).isDirectory()) throw new DataError(`${path}: is a directory, not a file`);
  return readFileSync(path);
}

/**
 * Decode strict UTF-8 bytes and strip a leading byte-order mark (U+FEFF).
 * @param path the file the bytes come from, named in the error.
 * @throws DataError `path: not UTF-8 text: ... at byte offset N` for invalid UTF-8 or a NUL byte.
 */
export function decodeUtf8(bytes: Uint8Array, path: string): string {
  return decodeUtf8Strict(bytes, (detail) => new DataError(`${path}: ${detail}`));
}

/**
 * Read a UTF-8 text file (for language modelling): BOM stripped, CRLF turned into LF.
 * @param path the file.
 * @returns the whole text.
 * @throws DataError naming the path if it is missing or empty.
 */
export function readText(path: string): string {
  const text = decodeUtf8(readBytes(path), path).replace(/\r\n/g, '\n');
  if (text.length === 0) throw new DataError(`${path}: file is empty`);
  return text;
}

/**
 * Longest TSV line accepted, in UTF-16 code units (1 Mi). A translation pair or a text to
 * classify is far shorter; a longer line is almost always a broken file, and would cost
 * tokenization time and memory out of proportion.
 */
export const MAX_LINE_CHARS = 1 << 20;

/**
 * Split a TSV file into lines of exactly `names.length` non-empty fields.
 * @returns the fields of every non-empty line, in file order.
 * @throws DataError `path:line: expected 'a<TAB>b', found N fields`, `path:line: empty a`, or
 *   `path:line: line of N characters, longer than the limit of MAX_LINE_CHARS`.
 */
function readFields(path: string, names: readonly string[]): string[][] {
  const lines = decodeUtf8(readBytes(path), path).split('\n');
  const rows: string[][] = [];
  const expected = `expected '${names.join('<TAB>')}'`;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].endsWith('\r') ? lines[i].slice(0, -1) : lines[i];
    const where = `${path}:${i + 1}`;
    if (line.length > MAX_LINE_CHARS) {
      throw new DataError(
        `${where}: line of ${line.length} characters, longer than the limit of ${MAX_LINE_CHARS} (is the file a TSV of sentences or texts, one per line?)`,
      );
    }
    if (line.trim() === '') continue;
    const fields = line.split('\t');
    if (fields.length !== names.length) {
      const n = fields.length;
      throw new DataError(`${where}: ${expected}, found ${n} field${n === 1 ? '' : 's'}`);
    }
    for (let k = 0; k < names.length; k++) {
      fields[k] = fields[k].trim();
      if (fields[k] === '') throw new DataError(`${where}: ${expected}, but ${names[k]} is empty`);
    }
    rows.push(fields);
  }
  if (rows.length === 0) throw new DataError(`${path}: no examples (the file has no data lines)`);
  return rows;
}

/**
 * Read translation pairs, one `source<TAB>target` per line (fields trimmed).
 * @param path a UTF-8 TSV file (rules in the module doc).
 * @returns pairs in file order (duplicates kept).
 * @throws DataError naming the file and 1-based line of the first malformed line (not exactly
 *   two fields, or an empty field), or naming the path if it is missing or has no pairs.
 */
export function readParallelTsv(path: string): ParallelPair[] {
  return readFields(path, ['source', 'target']).map(([source, target]) => ({ source, target }));
}

/**
 * Read classification examples, one `text<TAB>label` per line (fields trimmed). The label is
 * the last field, so the text cannot contain a tab: a line with more than two fields is an
 * error rather than silently guessed.
 * @param path a UTF-8 TSV file (rules in the module doc).
 * @returns examples in file order.
 * @throws DataError naming the file and 1-based line of the first malformed line, or naming
 *   the path if it is missing or has no examples.
 */
export function readClassificationTsv(path: string): LabeledText[] {
  return readFields(path, ['text', 'label']).map(([text, label]) => ({ text, label }));
}
