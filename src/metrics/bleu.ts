/**
 * BLEU (Papineni et al. 2002, "BLEU: a Method for Automatic Evaluation of Machine Translation"),
 * computed exactly as sacreBLEU computes it (Post 2018, "A Call for Clarity in Reporting BLEU
 * Scores"; sacrebleu/metrics/bleu.py `BLEU`, sacrebleu/metrics/helpers.py, sacrebleu/compat.py).
 *
 * Defaults equal sacreBLEU's `BLEU()`: tokenizer '13a', max n-gram order 4, smoothing 'exp',
 * no effective order, case-sensitive. Numbers are tested against sacreBLEU 2.6.0 output
 * (test/fixtures/metrics/bleu.json, made by scripts/make_bleu_fixtures.py).
 *
 * Legend: N max n-gram order, K references per segment, I segments.
 */

import { rstripPython, splitPythonWhitespace, tokenize13a } from './tokenizer13a.js';

/** Smoothing methods of Chen & Cherry (2014), named as in sacreBLEU. */
export type SmoothMethod = 'none' | 'floor' | 'add-k' | 'exp';

/** Tokenizers available: sacreBLEU's default '13a', or 'none' (split on whitespace only). */
export type BleuTokenizer = '13a' | 'none';

/**
 * Default smoothing value per method (sacreBLEU `BLEU.SMOOTH_DEFAULTS`); `null` means the method
 * takes no value. floor 0.1 and add-k 1 are from Chen & Cherry (2014), "A Systematic Comparison
 * of Smoothing Techniques for Sentence-Level BLEU".
 */
export const SMOOTH_DEFAULTS: Readonly<Record<SmoothMethod, number | null>> = {
  none: null,
  floor: 0.1,
  'add-k': 1,
  exp: null,
};

/** Options of {@link corpusBleu}, {@link sentenceBleu} and {@link computeBleu}. */
export interface BleuOptions {
  /** Lowercase hypotheses and references before tokenizing. Default false. */
  lowercase?: boolean;
  /** Default '13a'. */
  tokenize?: BleuTokenizer;
  /**
   * 'exp' (default; mteval-v13a's NIST smoothing, Chen & Cherry method 3): the k-th order with no
   * match gets precision 1 / (2^k total). 'floor' (method 1): a zero count becomes `smoothValue`
   * (default 0.1). 'add-k' (method 2): adds `smoothValue` (default 1) to the counts and totals of
   * orders 2..N, and the returned `counts`/`totals` include it, as in sacreBLEU. 'none'.
   */
  smoothMethod?: SmoothMethod;
  /** For 'floor' and 'add-k' only; a finite number >= 0. Default from {@link SMOOTH_DEFAULTS}. */
  smoothValue?: number;
  /** N, a positive integer. Default 4. */
  maxNgramOrder?: number;
  /**
   * Average only over the orders up to the last one that has any hypothesis n-gram, so that
   * segments shorter than N tokens can score above 0. Default false for {@link corpusBleu},
   * true for {@link sentenceBleu} (as sacreBLEU's `sentence_bleu`).
   */
  effectiveOrder?: boolean;
}

const OPTION_NAMES: ReadonlySet<string> = new Set([
  'lowercase',
  'tokenize',
  'smoothMethod',
  'smoothValue',
  'maxNgramOrder',
  'effectiveOrder',
]);

interface ResolvedOptions {
  lowercase: boolean;
  tokenize: BleuTokenizer;
  smoothMethod: SmoothMethod;
  smoothValue: number;
  maxNgramOrder: number;
  effectiveOrder: boolean;
}

function resolveOptions(options: BleuOptions, effectiveOrderDefault: boolean): ResolvedOptions {
  for (const key of Object.keys(options)) {
    if (!OPTION_NAMES.has(key)) {
      throw new TypeError(`BLEU: unknown option '${key}' (known: ${[...OPTION_NAMES].join(', ')})`);
    }
  }
  const smoothMethod = options.smoothMethod ?? 'exp';
  if (!(smoothMethod in SMOOTH_DEFAULTS)) {
    throw new RangeError(
      `BLEU: unknown smoothMethod '${String(smoothMethod)}' (expected none, floor, add-k or exp)`,
    );
  }
  const smoothDefault = SMOOTH_DEFAULTS[smoothMethod];
  if (options.smoothValue !== undefined) {
    if (smoothDefault === null) {
      throw new RangeError(
        `BLEU: smoothValue is only used by smoothMethod 'floor' or 'add-k', not '${smoothMethod}'`,
      );
    }
    if (!Number.isFinite(options.smoothValue) || options.smoothValue < 0) {
      throw new RangeError(
        `BLEU: smoothValue must be a finite number >= 0, got ${options.smoothValue}`,
      );
    }
  }
  const tokenize = options.tokenize ?? '13a';
  if (tokenize !== '13a' && tokenize !== 'none') {
    throw new RangeError(`BLEU: unknown tokenize '${String(tokenize)}' (expected '13a' or 'none')`);
  }
  const maxNgramOrder = options.maxNgramOrder ?? 4;
  if (!Number.isInteger(maxNgramOrder) || maxNgramOrder < 1) {
    throw new RangeError(`BLEU: maxNgramOrder must be a positive integer, got ${maxNgramOrder}`);
  }
  return {
    lowercase: options.lowercase ?? false,
    tokenize,
    smoothMethod,
    smoothValue: options.smoothValue ?? smoothDefault ?? 0,
    maxNgramOrder,
    effectiveOrder: options.effectiveOrder ?? effectiveOrderDefault,
  };
}

/**
 * Format `x` with `digits` decimals exactly like Python's `f'{x:.{digits}f}'`: the exact binary
 * value rounded half to even. `Number.prototype.toFixed` rounds exact ties up instead
 * (`(0.125).toFixed(2)` is '0.13', Python gives '0.12'), so it is not used for the last digit.
 * @param x a finite number with |x| < 1e21
 * @param digits decimals, an integer in 0..20
 * @returns the decimal string
 * @throws RangeError for non-finite or too large `x` or bad `digits`
 */
export function formatFixed(x: number, digits: number): string {
  if (!Number.isFinite(x) || Math.abs(x) >= 1e21) {
    throw new RangeError(`formatFixed: x must be finite with |x| < 1e21, got ${x}`);
  }
  if (!Number.isInteger(digits) || digits < 0 || digits > 20) {
    throw new RangeError(`formatFixed: digits must be an integer in 0..20, got ${digits}`);
  }
  const negative = x < 0 || Object.is(x, -0);
  // 100 decimals hold the exact value of every double >= 2^-100 in magnitude; smaller values
  // are far below any rounding boundary at <= 20 decimals.
  const exact = Math.abs(x).toFixed(100);
  const [intPart, fracPart] = exact.split('.') as [string, string];
  const keep = BigInt(intPart + fracPart.slice(0, digits));
  const rest = fracPart.slice(digits);
  const half = '5'.padEnd(rest.length, '0');
  let rounded = keep;
  if (rest > half || (rest === half && keep % 2n === 1n)) rounded += 1n;
  let text = rounded.toString().padStart(digits + 1, '0');
  if (digits > 0) text = `${text.slice(0, -digits)}.${text.slice(-digits)}`;
  return negative ? `-${text}` : text;
}

/**
 * A BLEU score and its sufficient statistics, like sacreBLEU's `BLEUScore`.
 * Lengths and counts are in tokens of the chosen tokenizer.
 */
export class BleuScore {
  /**
   * @param score BLEU in 0..100
   * @param counts (N) clipped n-gram matches per order (for 'add-k', including the added value)
   * @param totals (N) hypothesis n-grams per order (for 'add-k', including the added value)
   * @param precisions (N) smoothed n-gram precisions in percent
   * @param bp brevity penalty in 0..1
   * @param sysLen hypothesis tokens, summed over segments
   * @param refLen closest-reference tokens, summed over segments
   */
  constructor(
    readonly score: number,
    readonly counts: readonly number[],
    readonly totals: readonly number[],
    readonly precisions: readonly number[],
    readonly bp: number,
    readonly sysLen: number,
    readonly refLen: number,
  ) {}

  /** sysLen / refLen, or 0 when refLen is 0 (sacreBLEU `BLEUScore.ratio`). */
  get ratio(): number {
    return this.refLen ? this.sysLen / this.refLen : 0;
  }

  /**
   * The line sacreBLEU prints (`Score.format` without signature):
   * "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)".
   * @param width decimals of the score (sacreBLEU's `width`, default 2); precisions always
   *   have 1, BP and ratio 3
   */
  format(width = 2): string {
    const precisions = this.precisions.map((p) => formatFixed(p, 1)).join('/');
    return (
      `BLEU = ${formatFixed(this.score, width)} ${precisions} (BP = ${formatFixed(this.bp, 3)} ` +
      `ratio = ${formatFixed(this.ratio, 3)} hyp_len = ${this.sysLen} ref_len = ${this.refLen})`
    );
  }

  /** Same as {@link BleuScore.format} with the default width. */
  toString(): string {
    return this.format();
  }
}

/** sacreBLEU's `my_log`: natural log, with log(0) floored to -9999999999 (utils.py). */
function flooredLog(x: number): number {
  return x === 0 ? -9999999999 : Math.log(x);
}

/**
 * BLEU from corpus-level sufficient statistics (sacreBLEU `BLEU.compute_bleu`):
 * BP * exp(mean over orders 1..N of log p_n), BP = exp(1 - refLen / sysLen) when
 * sysLen < refLen, else 1 (Papineni et al. 2002, Sec. 2.2.1-2.3). Returns 0 with all precisions 0
 * when no n-gram matches at all. Orders after the first one with total 0 get precision 0, which
 * zeroes the score unless `effectiveOrder` (sacreBLEU floors log 0 to -9999999999).
 * @param counts (N) clipped matches per order
 * @param totals (N) hypothesis n-grams per order
 * @param sysLen hypothesis length in tokens
 * @param refLen closest-reference length in tokens
 * @param options smoothing, N and effective order (lowercase and tokenize are ignored)
 * @returns the score; its counts and totals include add-k's additions, as sacreBLEU's do
 * @throws RangeError on bad options or when counts/totals do not have N entries
 */
export function computeBleu(
  counts: readonly number[],
  totals: readonly number[],
  sysLen: number,
  refLen: number,
  options: BleuOptions = {},
): BleuScore {
  return computeResolved(counts, totals, sysLen, refLen, resolveOptions(options, false));
}

function computeResolved(
  countsIn: readonly number[],
  totalsIn: readonly number[],
  sysLen: number,
  refLen: number,
  opts: ResolvedOptions,
): BleuScore {
  const N = opts.maxNgramOrder;
  if (countsIn.length !== N || totalsIn.length !== N) {
    throw new RangeError(
      `BLEU: counts and totals need maxNgramOrder = ${N} entries, got ${countsIn.length} and ${totalsIn.length}`,
    );
  }
  const counts = [...countsIn];
  const totals = [...totalsIn];
  let bp = 1.0;
  if (sysLen < refLen) bp = sysLen > 0 ? Math.exp(1 - refLen / sysLen) : 0.0;
  const precisions = new Array<number>(N).fill(0);
  // Early stop if there are no matches (sacreBLEU issue 141).
  if (!counts.some((c) => c !== 0)) {
    return new BleuScore(0.0, counts, totals, precisions, bp, sysLen, refLen);
  }
  let smoothMteval = 1;
  let effOrder = N;
  for (let n = 1; n <= N; n++) {
    if (opts.smoothMethod === 'add-k' && n > 1) {
      counts[n - 1]! += opts.smoothValue;
      totals[n - 1]! += opts.smoothValue;
    }
    const total = totals[n - 1]!;
    const count = counts[n - 1]!;
    if (total === 0) break;
    if (opts.effectiveOrder) effOrder = n;
    if (count === 0) {
      if (opts.smoothMethod === 'exp') {
        smoothMteval *= 2;
        precisions[n - 1] = 100 / (smoothMteval * total);
      } else if (opts.smoothMethod === 'floor') {
        precisions[n - 1] = (100 * opts.smoothValue) / total;
      }
    } else {
      precisions[n - 1] = (100 * count) / total;
    }
  }
  let logSum = 0;
  for (let i = 0; i < effOrder; i++) logSum += flooredLog(precisions[i]!);
  const score = bp * Math.exp(logSum / effOrder);
  return new BleuScore(score, counts, totals, precisions, bp, sysLen, refLen);
}

/** Lowercase (optionally), strip trailing whitespace and tokenize (`BLEU._preprocess_segment`). */
function preprocess(segment: string, opts: ResolvedOptions): string[] {
  let s = opts.lowercase ? segment.toLowerCase() : segment;
  s = rstripPython(s);
  if (opts.tokenize === '13a') s = tokenize13a(s);
  return splitPythonWhitespace(s);
}

/** Per-order n-gram counts; keys are tokens joined by ' ' (tokens never contain whitespace). */
function ngramCounts(tokens: readonly string[], N: number): Map<string, number>[] {
  const maps: Map<string, number>[] = [];
  for (let n = 1; n <= N; n++) {
    const counts = new Map<string, number>();
    for (let i = 0; i + n <= tokens.length; i++) {
      const key = tokens.slice(i, i + n).join(' ');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    maps.push(counts);
  }
  return maps;
}

/**
 * The reference length closest to the hypothesis length, the shorter on ties
 * (sacreBLEU `BLEU._get_closest_ref_len`; Papineni et al. 2002, Sec. 2.2.1 "best match length").
 * @param hypLen hypothesis length in tokens
 * @param refLens (K) reference lengths in tokens, K >= 1
 * @throws RangeError when refLens is empty
 */
export function closestRefLength(hypLen: number, refLens: readonly number[]): number {
  if (refLens.length === 0) throw new RangeError('closestRefLength: no reference lengths');
  let best = refLens[0]!;
  for (const len of refLens) {
    const diff = Math.abs(hypLen - len);
    const bestDiff = Math.abs(hypLen - best);
    if (diff < bestDiff || (diff === bestDiff && len < best)) best = len;
  }
  return best;
}

/** [sysLen, refLen, counts (N), totals (N)] for one segment (`_compute_segment_statistics`). */
function segmentStatistics(
  hyp: readonly string[],
  refs: readonly (readonly string[])[],
  N: number,
): number[] {
  // Reference n-gram counts are the maximum over the references (clipping, Sec. 2.1).
  const refMax = ngramCounts([], N);
  for (const ref of refs) {
    ngramCounts(ref, N).forEach((counts, order) => {
      const merged = refMax[order]!;
      for (const [key, count] of counts) merged.set(key, Math.max(merged.get(key) ?? 0, count));
    });
  }
  const correct = new Array<number>(N).fill(0);
  const total = new Array<number>(N).fill(0);
  ngramCounts(hyp, N).forEach((counts, order) => {
    for (const [key, count] of counts) {
      total[order]! += count;
      correct[order]! += Math.min(count, refMax[order]!.get(key) ?? 0);
    }
  });
  const refLen = closestRefLength(
    hyp.length,
    refs.map((r) => r.length),
  );
  return [hyp.length, refLen, ...correct, ...total];
}

/**
 * Corpus BLEU of hypotheses against one or more references per segment, equal to sacreBLEU's
 * `BLEU(**options).corpus_score(hypotheses, references)` (or `corpus_bleu`): n-gram matches and
 * lengths are summed over all segments before the precisions and the brevity penalty are taken.
 *
 * `references` uses sacreBLEU's layout: a list of reference streams, each as long as
 * `hypotheses`; `references[k][i]` is the k-th reference of segment i. A missing reference may
 * be `null`/`undefined` (segments with fewer references), but each segment needs one.
 * Unlike sacreBLEU, which silently truncates to the shortest stream, lengths must match.
 *
 * @example corpusBleu(['The dog bit the man.'], [['The dog bit the man.']]).score === 100
 * @param hypotheses (I) detokenized system outputs
 * @param references (K, I) detokenized references
 * @param options see {@link BleuOptions}; effectiveOrder defaults to false
 * @returns the score (0..100) with counts, totals, precisions (percent), bp, sysLen, refLen
 * @throws TypeError on an unknown option; RangeError on bad options, no segments, no reference
 *   streams, a stream of the wrong length, or a segment with no reference
 */
export function corpusBleu(
  hypotheses: readonly string[],
  references: readonly (readonly (string | null | undefined)[])[],
  options: BleuOptions = {},
): BleuScore {
  return corpusResolved(hypotheses, references, resolveOptions(options, false));
}

function corpusResolved(
  hypotheses: readonly string[],
  references: readonly (readonly (string | null | undefined)[])[],
  opts: ResolvedOptions,
): BleuScore {
  const I = hypotheses.length;
  if (I === 0) throw new RangeError('BLEU: no hypotheses');
  if (references.length === 0) throw new RangeError('BLEU: no reference streams');
  references.forEach((stream, k) => {
    if (stream.length !== I) {
      throw new RangeError(
        `BLEU: reference stream ${k} has ${stream.length} segments, hypotheses have ${I}`,
      );
    }
  });
  const N = opts.maxNgramOrder;
  const stats = new Array<number>(2 + 2 * N).fill(0);
  for (let i = 0; i < I; i++) {
    const hyp = hypotheses[i];
    if (typeof hyp !== 'string') throw new TypeError(`BLEU: hypothesis ${i} is not a string`);
    const refs: string[][] = [];
    for (const stream of references) {
      const ref = stream[i];
      if (ref !== null && ref !== undefined) refs.push(preprocess(ref, opts));
    }
    if (refs.length === 0) throw new RangeError(`BLEU: segment ${i} has no reference`);
    const segment = segmentStatistics(preprocess(hyp, opts), refs, N);
    for (let j = 0; j < stats.length; j++) stats[j]! += segment[j]!;
  }
  return computeResolved(stats.slice(2, 2 + N), stats.slice(2 + N), stats[0]!, stats[1]!, opts);
}

/**
 * Sentence-level BLEU of one hypothesis against its references, equal to sacreBLEU's
 * `sentence_bleu(hypothesis, references)`: same as {@link corpusBleu} on one segment, but with
 * `effectiveOrder` true by default (smoothing stays 'exp'). BLEU is a corpus metric; averaging
 * sentence BLEU does not give corpus BLEU.
 * @param hypothesis a detokenized system output
 * @param references (K) its detokenized references, K >= 1
 * @param options see {@link BleuOptions}; effectiveOrder defaults to true
 * @returns the score (0..100) with its statistics
 * @throws as {@link corpusBleu}
 */
export function sentenceBleu(
  hypothesis: string,
  references: readonly string[],
  options: BleuOptions = {},
): BleuScore {
  return corpusResolved(
    [hypothesis],
    references.map((r) => [r]),
    resolveOptions(options, true),
  );
}
