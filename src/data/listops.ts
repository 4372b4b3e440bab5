/**
 * ListOps, the long-range classification task of the Long Range Arena (Tay et al. 2020,
 * Sec. 3.1; Nangia & Bowman 2018): nested lists of the operators MAX, MIN, MED (median)
 * and SM (sum modulo 10) over the digits 0-9, written in prefix form with brackets, e.g.
 *
 *   [MAX 4 3 [MIN 2 3 ] 1 0 [MED 1 5 8 9 2 ] ]   ->   5
 *
 * The label is the value of the whole expression (ten classes). Generated here from a
 * seed, following the LRA generator (`lra_benchmarks/data/listops.py`): below the maximum
 * depth a node is an operator over 2 to `maxArgs` arguments with probability 0.25,
 * otherwise a digit (always a digit at the maximum depth); trees are drawn until their token count lies in
 * [minLength, maxLength]. LRA uses maxDepth 10, maxArgs 10 and lengths 500-2000; our
 * default keeps lengths up to 1,000 tokens (the long-range setting on 2 cores).
 * One difference: LRA's strings also carry the parentheses of its binary tree encoding
 * ("( ( [MAX 2 ) 9 )"); they carry no information and are left out here.
 */
import { Generator } from '../random.js';
import type { LabeledText } from './tsv.js';

/** The four operators of LRA's ListOps (FIRST and LAST are defined there but unused). */
export const LISTOPS_OPERATORS = ['[MAX', '[MIN', '[MED', '[SM'] as const;
export type ListOpsOperator = (typeof LISTOPS_OPERATORS)[number];

/** A ListOps expression: a digit or an operator over its arguments. */
export type ListOpsTree = number | { op: ListOpsOperator; args: ListOpsTree[] };

export interface ListOpsOptions {
  /** Maximum nesting depth (LRA: 10). */
  maxDepth?: number;
  /** Maximum arguments of one operator, >= 2 (LRA: 10). */
  maxArgs?: number;
  /** Tokens per example, inclusive bounds (LRA: 500-2000; default 100-1000). */
  minLength?: number;
  maxLength?: number;
}

/** LRA's VALUE_P: a node below the maximum depth is an operator with this probability. */
const VALUE_P = 0.25;

/**
 * The value of an expression: MAX, MIN, MED (the median, rounded down for an even count,
 * as LRA's int(np.median)) and SM (the sum modulo 10).
 */
export function evaluateListOps(t: ListOpsTree): number {
  if (typeof t === 'number') return t;
  const v = t.args.map(evaluateListOps);
  switch (t.op) {
    case '[MAX':
      return Math.max(...v);
    case '[MIN':
      return Math.min(...v);
    case '[MED': {
      const s = [...v].sort((a, b) => a - b);
      const m = s.length >> 1;
      return s.length % 2 === 1 ? s[m] : Math.floor((s[m - 1] + s[m]) / 2);
    }
    case '[SM':
      return v.reduce((a, b) => a + b, 0) % 10;
  }
}

/** The tokens of an expression: `[MAX 4 3 ]` -> ['[MAX', '4', '3', ']']. */
export function listOpsTokens(t: ListOpsTree, out: string[] = []): string[] {
  if (typeof t === 'number') out.push(String(t));
  else {
    out.push(t.op);
    for (const a of t.args) listOpsTokens(a, out);
    out.push(']');
  }
  return out;
}

/** Parse a space-separated expression back into a tree. @throws Error naming the position. */
export function parseListOps(text: string): ListOpsTree {
  const toks = text.trim().split(/\s+/);
  let i = 0;
  const node = (): ListOpsTree => {
    const tok = toks[i++];
    if (tok === undefined) throw new Error('listops: unexpected end of expression');
    if (/^[0-9]$/.test(tok)) return Number(tok);
    if (!(LISTOPS_OPERATORS as readonly string[]).includes(tok))
      throw new Error(`listops: unexpected token '${tok}' at ${i - 1}`);
    const args: ListOpsTree[] = [];
    while (toks[i] !== ']') {
      if (i >= toks.length) throw new Error(`listops: '${tok}' at ${i} is never closed`);
      args.push(node());
    }
    i++;
    return { op: tok as ListOpsOperator, args };
  };
  const t = node();
  if (i !== toks.length) throw new Error(`listops: trailing tokens from ${i}`);
  return t;
}

/** One random tree (LRA's generate_tree) and its token count. */
function randomTree(
  g: Generator,
  depth: number,
  maxDepth: number,
  maxArgs: number,
): [ListOpsTree, number] {
  if (depth >= maxDepth || g.uniform() > VALUE_P) return [g.randint(10), 1];
  const n = 2 + g.randint(maxArgs - 1); // 2..maxArgs arguments
  const args: ListOpsTree[] = [];
  let length = 2; // the operator and ']'
  for (let i = 0; i < n; i++) {
    const [t, l] = randomTree(g, depth + 1, maxDepth, maxArgs);
    args.push(t);
    length += l;
  }
  return [{ op: LISTOPS_OPERATORS[g.randint(LISTOPS_OPERATORS.length)], args }, length];
}

/**
 * `count` distinct ListOps examples of token length in [minLength, maxLength] from `seed`:
 * `text` is the space-separated expression, `label` its value '0'..'9'.
 * @throws Error if an option is out of range (maxArgs < 2, lengths not 1 <= min <= max).
 */
export function generateListOps(count: number, seed: number, o: ListOpsOptions = {}): LabeledText[] {
  const maxDepth = o.maxDepth ?? 10;
  const maxArgs = o.maxArgs ?? 10;
  const minLength = o.minLength ?? 100;
  const maxLength = o.maxLength ?? 1000;
  if (!Number.isInteger(maxArgs) || maxArgs < 2)
    throw new Error(`listops: maxArgs must be an integer >= 2, got ${maxArgs}`);
  if (!Number.isInteger(maxDepth) || maxDepth < 2)
    throw new Error(`listops: maxDepth must be an integer >= 2, got ${maxDepth}`);
  if (!(minLength >= 1 && minLength <= maxLength))
    throw new Error(`listops: need 1 <= minLength <= maxLength, got ${minLength}, ${maxLength}`);
  const g = new Generator(seed);
  const seen = new Set<string>();
  const out: LabeledText[] = [];
  for (let tries = 0; out.length < count; tries++) {
    if (tries > 1000 * (count + 10))
      throw new Error(`listops: no trees of ${minLength}-${maxLength} tokens after ${tries} draws`);
    const [t, len] = randomTree(g, 1, maxDepth, maxArgs);
    if (len < minLength || len > maxLength) continue;
    const text = listOpsTokens(t).join(' ');
    if (seen.has(text)) continue;
    seen.add(text);
    out.push({ text, label: String(evaluateListOps(t)) });
  }
  return out;
}
