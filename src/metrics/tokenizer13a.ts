/**
 * The '13a' tokenizer of mteval-v13a.pl, as ported by sacreBLEU (Post 2018, "A Call for Clarity
 * in Reporting BLEU Scores"): sacrebleu/tokenizers/tokenizer_13a.py (`Tokenizer13a`) on top of
 * sacrebleu/tokenizers/tokenizer_re.py (`TokenizerRegexp`).
 *
 * Everything here reproduces Python semantics, not JavaScript's: `str.split()` and `str.rstrip()`
 * use Python's whitespace set (which includes U+001C..U+001F and U+0085 but not U+FEFF, unlike
 * JavaScript's `\s`). Tested token by token against sacreBLEU 2.6.0 in test/metrics/bleu.test.ts.
 */

/**
 * One Python whitespace character (`str.isspace()`): bidi classes WS, B, S and category Zs.
 * JavaScript's `\s` differs: it lacks U+001C..U+001F and U+0085 and adds U+FEFF.
 */
const PY_WHITESPACE =
  '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_WHITESPACE_RUN = new RegExp(`[${PY_WHITESPACE}]+`, 'u');
const PY_TRAILING_WHITESPACE = new RegExp(`[${PY_WHITESPACE}]+$`, 'u');

/**
 * Split on runs of whitespace and drop empty pieces, like Python's `str.split()` with no argument.
 * @param line any string
 * @returns the non-empty whitespace-separated pieces, in order (`[]` for an empty or blank line)
 */
export function splitPythonWhitespace(line: string): string[] {
  return line.split(PY_WHITESPACE_RUN).filter((piece) => piece.length > 0);
}

/**
 * Remove trailing whitespace, like Python's `str.rstrip()` with no argument (sacreBLEU applies it
 * to every segment before tokenizing: `BLEU._preprocess_segment`).
 * @param line any string
 * @returns `line` without trailing Python whitespace
 */
export function rstripPython(line: string): string {
  return line.replace(PY_TRAILING_WHITESPACE, '');
}

/**
 * The substitutions of sacreBLEU's `TokenizerRegexp` (tokenizer_re.py), applied in order. Python's
 * `re.sub` and a global JavaScript `replace` both substitute non-overlapping matches left to right.
 * `[^0-9]` matches any code point (with the `u` flag) and `0-9` only ASCII digits, as in Python.
 */
const REGEXP_RULES: ReadonlyArray<readonly [RegExp, string]> = [
  // Language-dependent part (assuming Western languages): split off the ASCII symbols
  // { | } ~  [ \ ] ^ _ `  space ! " # $ % &  ( ) * +  : ; < = > ? @  /
  [/([{-~[-` -&(-+:-@/])/gu, ' $1 '],
  // Tokenize period and comma unless preceded by a digit.
  [/([^0-9])([.,])/gu, '$1 $2 '],
  // Tokenize period and comma unless followed by a digit.
  [/([.,])([^0-9])/gu, ' $1 $2'],
  // Tokenize dash when preceded by a digit.
  [/([0-9])(-)/gu, '$1 $2 '],
];

/**
 * sacreBLEU's `TokenizerRegexp` (tokenizer_re.py): the post-tokenizer shared by '13a' and 'zh'.
 * Splits off ASCII punctuation and symbols, periods and commas except inside numbers ("3.5",
 * "1,000" stay whole), and a dash after a digit; then collapses whitespace.
 * @param line a segment
 * @returns the tokens joined by single spaces, with no leading or trailing space
 */
export function tokenizeRegexp(line: string): string {
  let out = line;
  for (const [pattern, replacement] of REGEXP_RULES) out = out.replace(pattern, replacement);
  return splitPythonWhitespace(out).join(' ');
}

/**
 * The '13a' tokenizer, equivalent to mteval-v13a.pl as used by WMT and sacreBLEU's default
 * (sacrebleu/tokenizers/tokenizer_13a.py, `Tokenizer13a.__call__`): removes `<skipped>`, joins
 * words hyphenated across a line break ("-\n"), turns other newlines into spaces, unescapes
 * `&quot;` `&amp;` `&lt;` `&gt;` (in that order, once each: `&amp;quot;` becomes `&quot;`), then
 * applies {@link tokenizeRegexp}.
 * @example tokenize13a('It costs $3.5, or 1,000.') === 'It costs $ 3.5 , or 1,000 .'
 * @param line a detokenized segment
 * @returns the tokens joined by single spaces (split them with {@link splitPythonWhitespace})
 */
export function tokenize13a(line: string): string {
  let out = line.replaceAll('<skipped>', '').replaceAll('-\n', '').replaceAll('\n', ' ');
  if (out.includes('&')) {
    out = out
      .replaceAll('&quot;', '"')
      .replaceAll('&amp;', '&')
      .replaceAll('&lt;', '<')
      .replaceAll('&gt;', '>');
  }
  return tokenizeRegexp(` ${out} `);
}
