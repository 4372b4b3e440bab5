/**
 * Training report: loss.svg (training and validation loss against steps) from metrics.jsonl.
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
