/**
 * German-English sentence pairs from the usage examples of the FreeDict German-English
 * dictionary (generated from TU Chemnitz's Ding dictionary; GPLv3/AGPLv3), as installed by
 * Debian's package `dict-freedict-deu-eng` in dictd format (dictzip, i.e. gzip).
 *
 * In that file an entry's examples are lines indented by six spaces:
 *
 *       "Ich habe eine Frage."  - I have a question.
 *
 * i.e. the German in double quotes, two spaces, `- `, then the English. The German may itself
 * contain quotes (`"Aufnahme 1/4" oder 3/8""  - socket 1/4" or 3/8"`), so the German is
 * everything up to the last `"  - ` of the line. An example shared by several headwords
 * appears once per headword; pairs are deduplicated keeping the first occurrence, so the
 * order is the file's order. The 2022-04-15 edition (Ding 1.9) gives 36,899 unique pairs.
 */
import { gunzipSync } from 'node:zlib';
import { existsSync } from 'node:fs';
import { DataError, decodeUtf8, readBytes, type ParallelPair } from './tsv.js';

/** Where Debian's `dict-freedict-deu-eng` installs the dictionary. */
export const FREEDICT_DE_EN_PATH = '/usr/share/dictd/freedict-deu-eng.dict.dz';
/** Where Debian's `dict-freedict-eng-deu` (English-German) installs the dictionary. */
export const FREEDICT_EN_DE_PATH = '/usr/share/dictd/freedict-eng-deu.dict.dz';

/** Options for {@link loadFreedictDeEn} and {@link parseFreedictExamples}. */
export interface FreedictOptions {
  /**
   * Keep only pairs where both sides are full sentences ({@link isSentencePair}).
   * Default false.
   */
  sentencesOnly?: boolean;
  /**
   * One translation per pair. In a full-sentence pair the English keeps the first of several
   * alternative translations (`He has a short fuse., He's on a short fuse.` -> `He has a short
   * fuse.`) and both sides drop a gloss in parentheses after the final punctuation
   * (`Mind the step! (warning sign)` -> `Mind the step!`, `Vorsicht Stufe! (Warnschild)` ->
   * `Vorsicht Stufe!`). In a phrase pair ({@link cleanPhrasePair}) a comma list of
   * alternatives on the English side keeps its first item (`usable storage volume, useful
   * storage capacity` -> `usable storage volume`). Pairs are deduplicated after cleaning.
   * Default false.
   */
  clean?: boolean;
  /**
   * The file is the English-German dictionary, whose examples quote the English first
   * (`"I have a question."  - Ich habe eine Frage.`): swap the sides so that the source is
   * still German. Default false.
   */
  englishFirst?: boolean;
}

// Six-space indent, German in quotes (greedy: the German may contain quotes), `  - `, English.
const EXAMPLE = /^ {6}"(.+)" {2}- (.+)$/;
// A sentence-final mark, optionally followed by a closing quote or bracket.
// (German closes quotes with “ and ‘, and may quote »…« as well as «…».)
const FINAL = /[.!?…]['"’”“‘»«)]?$/u;
const INITIAL = /^['"‘“„»(]?[\p{Lu}\d¿¡]/u;
// Several alternative translations: a sentence end, a comma, then a new capitalised sentence.
const ALTERNATIVE = /(?<=[.!?]['"’”]?), (?=['"‘“]?\p{Lu})/u;
const TRAILING_GLOSS = /(?<=[.!?]['"’”]?) \([^()]*\)$/u;

/**
 * Whether a pair is a full sentence on both sides: each side starts with a capital letter or
 * a digit (after an optional opening quote) and ends with `.`, `!`, `?` or `…` (before an
 * optional closing quote), ignoring a trailing parenthesised gloss. Excludes phrases such as
 * `einen Abänderungsantrag stellen - move an amendment`.
 */
export function isSentencePair(p: ParallelPair): boolean {
  return isSentence(p.source) && isSentence(p.target);
}

/** One side of {@link isSentencePair}: a capital or digit first, a final mark last. */
function isSentence(s: string): boolean {
  const t = s.replace(TRAILING_GLOSS, '');
  return INITIAL.test(t) && FINAL.test(t);
}

// Quotation marks (not the apostrophe): a comma between them is not a list separator.
const QUOTE_MARKS = /["„“”«»‹›]/u;

/** Unicode NFC, runs of white space as one space, trimmed: the form pairs are compared in. */
export function normalizeSpace(s: string): string {
  return s.normalize('NFC').replace(/\s+/gu, ' ').trim();
}

function cleanEnglish(s: string): string {
  return s.split(ALTERNATIVE)[0].replace(TRAILING_GLOSS, '').trim();
}

/** The items of a comma list (`, ` outside parentheses and brackets), trimmed. */
export function commaItems(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '(' || c === '[') depth++;
    else if ((c === ')' || c === ']') && depth > 0) depth--;
    else if (c === ',' && depth === 0 && s[i + 1] === ' ') {
      out.push(s.slice(start, i).trim());
      start = i + 2;
    }
  }
  out.push(s.slice(start).trim());
  return out.filter((x) => x !== '');
}

/**
 * One translation for a phrase pair: the dictionary lists alternatives as a comma list
 * (`Frühbucherrabatte` - `early bird discounts, early payment discounts`), which no
 * translation can be expected to reproduce whole, so such an English list keeps its first
 * item (`early bird discounts`). Only then: the German is one item (a German comma list may
 * be clauses, or alternatives that do not line up with the English ones, so the pair stays
 * whole), neither side looks like a sentence (`Sie kommen doch` - `You'll come, won't you?`
 * stays), and the English holds no quotation marks (`"Danger, black ice!"` stays). Commas
 * inside parentheses or brackets do not count.
 */
export function cleanPhrasePair(p: ParallelPair): ParallelPair {
  if (isSentence(p.source) || isSentence(p.target) || QUOTE_MARKS.test(p.target)) return p;
  const t = commaItems(p.target);
  if (t.length < 2 || commaItems(p.source).length > 1) return p;
  return { source: p.source, target: t[0] };
}

/**
 * Extract the example pairs from the text of a dictd FreeDict German-English dictionary.
 * @param text the decompressed `.dict` text.
 * @returns unique `{source: German, target: English}` pairs in file order, outer quotes
 *   removed (quotes inside a sentence are kept).
 */
export function parseFreedictExamples(text: string, options: FreedictOptions = {}): ParallelPair[] {
  const seen = new Set<string>();
  const pairs: ParallelPair[] = [];
  for (let line of exampleLines(text)) {
    if (line.endsWith('\r')) line = line.slice(0, -1);
    const m = EXAMPLE.exec(line);
    if (!m) continue;
    let source = normalizeSpace(options.englishFirst ? m[2] : m[1]);
    let target = normalizeSpace(options.englishFirst ? m[1] : m[2]);
    if (options.clean) {
      if (isSentencePair({ source, target })) {
        source = source.replace(TRAILING_GLOSS, '').trim();
        target = cleanEnglish(target);
      } else ({ source, target } = cleanPhrasePair({ source, target }));
    }
    if (source === '' || target === '') continue;
    const p = { source, target };
    if (options.sentencesOnly && !isSentencePair(p)) continue;
    const key = `${source}\t${target}`;
    if (seen.has(key)) continue;
    seen.add(key);
    pairs.push({ source: ownCopy(source), target: ownCopy(target) });
  }
  /^/.exec(''); // V8 keeps the last matched subject (a line of `text`) alive otherwise
  return pairs;
}

/** The lines that start with six spaces and a quote (candidate examples), found by indexOf. */
function* exampleLines(text: string): Generator<string> {
  const START = '\n      "';
  for (let i = text.indexOf(START); i >= 0; i = text.indexOf(START, i + 1)) {
    const end = text.indexOf('\n', i + 1);
    yield text.slice(i + 1, end < 0 ? text.length : end);
  }
}

/**
 * A copy of `s` that does not refer to the string it was cut from: V8 keeps a substring as a
 * slice of its parent, so pairs cut from the decompressed dictionary (a 190 MB two-byte
 * string) would keep all of it alive for as long as the data set lives.
 */
function ownCopy(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
}

/**
 * Load the German-English example pairs of a FreeDict dictionary file.
 * @param path a dictd `.dict.dz` (dictzip/gzip, detected by its magic bytes) or plain `.dict`
 *   file; default Debian's {@link FREEDICT_DE_EN_PATH}. For the English-German dictionary
 *   ({@link FREEDICT_EN_DE_PATH}) pass `englishFirst: true`.
 * @returns unique pairs, source German and target English, in file order (36,899 for the
 *   2022-04-15 edition; 7,466 with `{sentencesOnly: true, clean: true}`).
 * @throws DataError naming the path if the file is missing (under /usr/share/dictd/, saying
 *   which Debian package to install), or if no example pairs are found.
 */
export function loadFreedictDeEn(
  path: string = FREEDICT_DE_EN_PATH,
  options: FreedictOptions = {},
): ParallelPair[] {
  if (!existsSync(path)) {
    const pkg = path.includes('eng-deu') ? 'dict-freedict-eng-deu' : 'dict-freedict-deu-eng';
    const hint = path.startsWith('/usr/share/dictd/') ? ` (install it with \`apt-get install ${pkg}\`)` : '';
    throw new DataError(`${path}: no such file${hint}`);
  }
  let bytes: Uint8Array = readBytes(path);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new DataError(`${path}: not a valid gzip/dictzip file (${(e as Error).message})`);
    }
  }
  const pairs = parseFreedictExamples(decodeUtf8(bytes, path), options);
  if (pairs.length === 0) {
    throw new DataError(`${path}: no example lines ('      "German"  - English') found`);
  }
  return pairs;
}

/**
 * The example pairs of both FreeDict dictionaries, German-English then English-German
 * (sides swapped, German first), deduplicated across them on the normalized text (NFC,
 * single spaces): the built-in `freedict-de-en`.
 * @param paths the two dictionary files (default Debian's).
 * @throws DataError as loadFreedictDeEn, naming the missing file and its Debian package.
 */
export function loadFreedictCombined(
  options: Omit<FreedictOptions, 'englishFirst'> = {},
  paths: { deEn?: string; enDe?: string } = {},
): ParallelPair[] {
  const a = loadFreedictDeEn(paths.deEn ?? FREEDICT_DE_EN_PATH, options);
  const b = loadFreedictDeEn(paths.enDe ?? FREEDICT_EN_DE_PATH, { ...options, englishFirst: true });
  const seen = new Set(a.map((p) => `${p.source}\t${p.target}`));
  const out = [...a];
  for (const p of b) {
    const key = `${p.source}\t${p.target}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(p);
  }
  return out;
}
