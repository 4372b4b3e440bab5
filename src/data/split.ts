/**
 * Deterministic train/valid/test splits: a seeded Fisher-Yates shuffle (Generator,
 * xoshiro128**) of the items, then consecutive slices: test first, then valid, then train.
 */
import { Generator } from '../random.js';

/** Options for {@link splitDeterministic}. */
export interface SplitOptions<T = unknown> {
  /** Fraction of items for validation, in [0, 1). Default 0.05. */
  valid?: number;
  /** Fraction of items for test, in [0, 1). Default 0.05. */
  test?: number;
  /** Seed of the shuffle. Default 0. */
  seed?: number;
  /**
   * Keys of an item (e.g. a translation pair's source and target sentence): items that share
   * a key, directly or through others, go to the same part, so that no sentence appears on
   * both sides of a split. Default: every item on its own.
   */
  groupKeys?: (item: T) => readonly string[];
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
export function splitDeterministic<T>(items: readonly T[], options: SplitOptions<T> = {}): Split<T> {
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
  const gen = new Generator(options.seed ?? 0);
  if (options.groupKeys)
    return splitGroups(groupsOf(items, options.groupKeys), gen, nTest, nValid, items);
  const order = gen.shuffle(Array.from({ length: n }, (_, i) => i));
  const pick = (a: number, b: number) => order.slice(a, b).map((i) => items[i]);
  return {
    test: pick(0, nTest),
    valid: pick(nTest, nTest + nValid),
    train: pick(nTest + nValid, n),
  };
}

/**
 * The items grouped by shared keys (union-find): each group lists its items' indices in
 * input order; groups in the order of their first item.
 */
export function groupsOf<T>(items: readonly T[], keys: (item: T) => readonly string[]): number[][] {
  const parent = Array.from({ length: items.length }, (_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i]];
    return i;
  };
  const owner = new Map<string, number>();
  items.forEach((item, i) => {
    for (const k of keys(item)) {
      const j = owner.get(k);
      if (j === undefined) owner.set(k, i);
      else {
        const [a, b] = [find(i), find(j)];
        if (a !== b) parent[Math.max(a, b)] = Math.min(a, b);
      }
    }
  });
  const byRoot = new Map<number, number[]>();
  for (let i = 0; i < items.length; i++) {
    const r = find(i);
    const g = byRoot.get(r);
    if (g) g.push(i);
    else byRoot.set(r, [i]);
  }
  return [...byRoot.values()];
}

/** Shuffle whole groups, then fill test, then valid (each until its size is reached), then train. */
function splitGroups<T>(
  groups: number[][],
  gen: Generator,
  nTest: number,
  nValid: number,
  items: readonly T[],
): Split<T> {
  const out: Split<T> = { train: [], valid: [], test: [] };
  for (const g of gen.shuffle(groups)) {
    const part = out.test.length < nTest ? out.test : out.valid.length < nValid ? out.valid : out.train;
    for (const i of g) part.push(items[i]);
  }
  return out;
}

/** Split seed of train and eval: fixed, so both agree on the held-out test split. */
export const SPLIT_SEED = 20170612; // the arXiv date of "Attention Is All You Need"

/**
 * A translation pair's sentences, as split keys: pairs that share a source or a target
 * sentence stay in one part of the split (no test sentence is seen in training).
 */
export function pairSentenceKeys(p: { source: string; target: string }): string[] {
  return [`s\t${p.source}`, `t\t${p.target}`];
}

/**
 * The split `transformer train` and `eval` use for a task's examples: 90/5/5 with
 * {@link SPLIT_SEED} (no validation part when `validFile` is set: a file gives it), translation
 * pairs grouped by {@link pairSentenceKeys}.
 * @param items the examples in loader order.
 * @param task 'translate' (items are pairs) or 'classify'.
 * @returns the three parts (valid empty when validFile).
 */
export function taskSplit<T>(
  items: readonly T[],
  task: 'translate' | 'classify',
  validFile = false,
): Split<T> {
  return splitDeterministic<T>(items, {
    valid: validFile ? 0 : 0.05,
    test: 0.05,
    seed: SPLIT_SEED,
    groupKeys:
      task === 'translate'
        ? (p) => pairSentenceKeys(p as { source: string; target: string })
        : undefined,
  });
}
