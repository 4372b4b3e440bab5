/**
 * Corpus BLEU by source length: the segments are grouped by the length of their source
 * sentence (in 13a tokens, the tokens BLEU itself counts), and each group is scored with
 * {@link corpusBleu} on its own (Koehn & Knowles 2017, "Six Challenges for Neural Machine
 * Translation", Sec. 3.5, and Bahdanau et al. 2015, Fig. 2, plot quality against sentence
 * length the same way). BLEU is a corpus metric: a bucket's score is not the mean of its
 * sentences' scores, and the buckets' scores do not average to the whole set's.
 *
 * Legend: I segments, K references per segment.
 */
import { corpusBleu, type BleuOptions, type BleuScore } from './bleu.js';
import { splitPythonWhitespace, tokenize13a } from './tokenizer13a.js';

/** The default bucket upper bounds: 1-5, 6-10, 11-20 and 21+ source tokens. */
export const DEFAULT_LENGTH_BOUNDS: readonly number[] = [5, 10, 20];

/** One length bucket's corpus BLEU. */
export interface LengthBucketBleu {
  /** e.g. '1-5', '21+'. */
  label: string;
  /** Smallest and largest source length in the bucket, in tokens (max Infinity for the last). */
  min: number;
  max: number;
  /** Segments in the bucket. */
  count: number;
  /** The bucket's corpus BLEU, or null when it is empty. */
  bleu: BleuScore | null;
}

/** The length of a source sentence in 13a tokens (0 for a blank one). */
export function sourceLength13a(source: string): number {
  return splitPythonWhitespace(tokenize13a(source)).length;
}

/**
 * The buckets of upper bounds b1 < b2 < ...: 1-b1, (b1+1)-b2, ..., (bk+1)+.
 * @throws RangeError naming `bounds` unless they are positive increasing integers.
 */
export function lengthBuckets(bounds: readonly number[] = DEFAULT_LENGTH_BOUNDS): {
  label: string;
  min: number;
  max: number;
}[] {
  bounds.forEach((b, i) => {
    if (!Number.isInteger(b) || b < 1 || (i > 0 && b <= bounds[i - 1]))
      throw new RangeError(
        `bleuByLength: bounds must be increasing positive integers, got [${bounds.join(', ')}]`,
      );
  });
  const out: { label: string; min: number; max: number }[] = [];
  let min = 1;
  for (const b of bounds) {
    out.push({ label: min === b ? `${b}` : `${min}-${b}`, min, max: b });
    min = b + 1;
  }
  out.push({ label: `${min}+`, min, max: Infinity });
  return out;
}

/**
 * Corpus BLEU per source-length bucket.
 * @param sources (I) the source sentences (their 13a token counts pick the bucket; a blank
 *   source counts in the first bucket).
 * @param hypotheses (I) detokenized system outputs.
 * @param references (K, I) detokenized references, sacreBLEU's layout as in corpusBleu.
 * @param options `bounds` (default {@link DEFAULT_LENGTH_BOUNDS}) and BLEU options.
 * @returns one entry per bucket, in length order, empty buckets included (bleu null).
 * @throws RangeError when sources and hypotheses differ in length, or for bad bounds; as
 *   corpusBleu for the references.
 */
export function bleuByLength(
  sources: readonly string[],
  hypotheses: readonly string[],
  references: readonly (readonly (string | null | undefined)[])[],
  options: BleuOptions & { bounds?: readonly number[] } = {},
): LengthBucketBleu[] {
  const { bounds, ...bleuOptions } = options;
  if (sources.length !== hypotheses.length)
    throw new RangeError(
      `bleuByLength: ${sources.length} sources but ${hypotheses.length} hypotheses`,
    );
  const buckets = lengthBuckets(bounds);
  const members: number[][] = buckets.map(() => []);
  sources.forEach((s, i) => {
    const n = Math.max(1, sourceLength13a(s));
    members[buckets.findIndex((b) => n <= b.max)].push(i);
  });
  return buckets.map((b, j) => {
    const idx = members[j];
    const bleu =
      idx.length === 0
        ? null
        : corpusBleu(
            idx.map((i) => hypotheses[i]),
            references.map((stream) => idx.map((i) => stream[i])),
            bleuOptions,
          );
    return { ...b, count: idx.length, bleu };
  });
}

/**
 * A Markdown table of bucketed BLEU: `| source tokens | sentences | BLEU |`.
 * @param buckets from {@link bleuByLength}.
 */
export function formatBleuByLength(buckets: readonly LengthBucketBleu[]): string {
  const rows = buckets.map(
    (b) => `| ${b.label} | ${b.count} | ${b.bleu ? b.bleu.score.toFixed(2) : '-'} |`,
  );
  return ['| source tokens | sentences | BLEU |', '| --- | ---: | ---: |', ...rows].join('\n');
}
