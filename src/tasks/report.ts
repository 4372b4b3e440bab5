/**
 * Training report: loss.svg (training and validation loss against steps) from metrics.jsonl,
 * and the trivial baselines a run's validation metric must beat (issue #11 item 8): the
 * majority class for classification, a unigram model's cross-entropy for lm / translate.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lineChartSvg, writeFigure } from '../viz/index.js';

/** Read metrics.jsonl records. */
export function readMetrics(dir: string): Record<string, number>[] {
  const path = join(dir, 'metrics.jsonl');
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, number>);
}

/**
 * Write DIR/loss.svg: the training loss (a running mean over 50 steps, to show the trend)
 * and the validation loss at each evaluation.
 */
export async function writeLossChart(dir: string): Promise<void> {
  const rows = readMetrics(dir);
  const train: [number, number][] = [];
  let window: number[] = [];
  for (const r of rows) {
    if (typeof r.loss !== 'number') continue; // a skipped non-finite batch
    window.push(r.loss);
    if (window.length > 50) window = window.slice(-50);
    train.push([r.step, window.reduce((a, b) => a + b, 0) / window.length]);
  }
  const valid: [number, number][] = rows
    .filter((r) => r.valid_loss !== undefined)
    .map((r) => [r.step, r.valid_loss]);
  const svg = lineChartSvg(
    [
      { name: 'training loss (mean of 50 steps)', points: train },
      { name: 'validation loss', points: valid },
    ],
    { title: 'Loss', xLabel: 'step', yLabel: 'cross-entropy (nats per token)' },
  );
  writeFigure(join(dir, 'loss.svg'), svg);
}

/**
 * Cross-entropy (nats per token) of `valid` under the unigram distribution of `train` with
 * add-one smoothing over V tokens: p(t) = (count(t) + 1) / (N + V). A model that ignores
 * its context reaches this; a trained one should go below it.
 * @param V vocabulary size (every id < V).
 */
export function unigramCrossEntropy(
  train: Iterable<number>,
  valid: Iterable<number>,
  V: number,
): number {
  const counts = new Float64Array(V);
  let n = 0;
  for (const t of train) {
    counts[t]++;
    n++;
  }
  let total = 0;
  let m = 0;
  for (const t of valid) {
    total -= Math.log((counts[t] + 1) / (n + V));
    m++;
  }
  return m ? total / m : NaN;
}

/** Accuracy on `valid` of always predicting the most frequent class of `train`. */
export function majorityAccuracy(train: readonly number[], valid: readonly number[]): number {
  const counts = new Map<number, number>();
  for (const y of train) counts.set(y, (counts.get(y) ?? 0) + 1);
  let best = -1;
  let bestCount = -1;
  for (const [y, c] of counts)
    if (c > bestCount || (c === bestCount && y < best)) [best, bestCount] = [y, c];
  return valid.length ? valid.filter((y) => y === best).length / valid.length : NaN;
}

/** A trivial predictor's score on the validation data, which training must beat. */
export interface Baseline {
  /** The metrics.jsonl field compared ('valid_loss' or 'valid_accuracy'). */
  metric: 'valid_loss' | 'valid_accuracy';
  value: number;
  /** What the baseline is, for the message. */
  name: string;
}

/**
 * The warning to print when the best validation metric of a run never beat the baseline.
 * @param records metrics.jsonl records of the run.
 * @returns the warning, or null when the baseline was beaten (or nothing was validated).
 */
export function baselineWarning(records: Record<string, number>[], b: Baseline): string | null {
  const values = records.map((r) => r[b.metric]).filter((v) => typeof v === 'number');
  if (values.length === 0 || !Number.isFinite(b.value)) return null;
  const lossLike = b.metric === 'valid_loss';
  const best = lossLike ? Math.min(...values) : Math.max(...values);
  if (lossLike ? best < b.value : best > b.value) return null;
  return (
    `warning: the best ${b.metric.replace('_', ' ')} (${best.toFixed(4)}) never beat the ${b.name} (${b.value.toFixed(4)}): ` +
    'the model learned nothing useful; train longer (--steps, --epochs), use more data, or change --lr'
  );
}
