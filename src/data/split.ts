/**
 * Deterministic train/valid/test splits: a seeded Fisher-Yates shuffle (Generator,
 * xoshiro128**) of the items, then consecutive slices: test first, then valid, then train.
 */
import { Generator } from '../random.js';

/** Options for {@link splitDeterministic}. */
export interface SplitOptions {
  /** Fraction of items for validation, in [0, 1). Default 0.05. */
  valid?: number;
  /** Fraction of items for test, in [0, 1). Default 0.05. */
  test?: number;
  /** Seed of the shuffle. Default 0. */
  seed?: number;
}

/** The three parts of a split; together they hold every item exactly once. */
export interface Split<T> {
  train: T[];
  valid: T[];
  test: T[];
}

/**
 * Split items into train, valid and test after a seeded shuffle: the same items and seed give
 * the same split on every run and machine. Sizes are `round(n * test)` and `round(n * valid)`
 * (at least 1 each when the fraction is positive and n allows), the rest is train; the input
 * array is not modified.
 * @param items the examples (any type; compared by position, not value).
 * @returns `{train, valid, test}`, each in shuffled order.
 * @throws Error naming the option if a fraction is outside [0, 1) or they sum to >= 1.
 */
export function splitDeterministic<T>(items: readonly T[], options: SplitOptions = {}): Split<T> {
  const fv = options.valid ?? 0.05;
  const ft = options.test ?? 0.05;
  for (const [name, f] of [
    ['valid', fv],
    ['test', ft],
  ] as const) {
    if (!(f >= 0 && f < 1)) throw new Error(`splitDeterministic: ${name}=${f} must be in [0, 1)`);
  }
  if (fv + ft >= 1) {
    throw new Error(`splitDeterministic: valid + test = ${fv + ft} leaves no training data`);
  }
  const n = items.length;
  const size = (f: number) => (f > 0 && n >= 3 ? Math.max(1, Math.round(n * f)) : 0);
  const nTest = size(ft);
  const nValid = size(fv);
  const order = new Generator(options.seed ?? 0).shuffle(Array.from({ length: n }, (_, i) => i));
  const pick = (a: number, b: number) => order.slice(a, b).map((i) => items[i]);
  return {
    test: pick(0, nTest),
    valid: pick(nTest, nTest + nValid),
    train: pick(nTest + nValid, n),
  };
}
