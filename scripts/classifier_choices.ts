/**
 * Measured tables for issue #14's classifier items, on the SpamAssassin e-mails (long texts):
 *  1. Early exit (DeeBERT / PABEE): a 4-layer classifier trained with an exit after every
 *     layer; test accuracy and mean layers run for confidence thresholds 0.5 ... 1.0 (and
 *     > 1: the full model), and for PABEE patience 1, 2.
 *  2. Hierarchical vs flat at the same token budget: the hierarchical classifier (chunks of
 *     `chunk` tokens, a 1-layer high-level encoder) against the flat classifier truncated
 *     to the same maxLen; test accuracy, training and inference seconds.
 * Same seed, steps and data for every model; the numbers are for one run.
 *
 *   node --import tsx scripts/classifier_choices.ts [steps=300] [maxLen=512] [chunk=64]
 *
 * Measured with `400 512 64` (native backend, 2 shared cores, 3,000 training e-mails,
 * 300 test e-mails, d_model 64): early exit, accuracy 0.9633 at every rule; mean layers
 * 1.00 (confidence >= 0.5 ... 0.6), 1.08 (0.9), 1.21 (0.99), 4.00 (1.0 and > 1), patience
 * 1: 2.00, patience 2: 3.00. Flat 2 layers over 512 tokens: accuracy 0.9567, 158.3 s
 * training, 1.3 s inference; hierarchical (chunks of 64, 2 + 1 layers): 0.9667, 79.7 s,
 * 1.5 s.
 */
import { pathToFileURL } from 'node:url';
import { availableBackends, setBackend } from '../src/backend/index.js';
import { AdamW } from '../src/train/optim.js';
import { clipGradNorm } from '../src/train/trainer.js';
import { loadTaskData } from '../src/tasks/data.js';
import type { EncoderClassifier } from '../src/models/classifier.js';
import type { Tokenizer } from '../src/tokenizers/index.js';
import {
  buildClassifyTask,
  classifyTexts,
  classifyTextsEarlyExit,
  type ClassifyTask,
  type ClassifyTaskOptions,
} from '../src/tasks/classify.js';

/** Share of `labels` equal to `gold` (same order). */
export function accuracy(labels: string[], gold: string[]): number {
  return labels.filter((l, i) => l === gold[i]).length / Math.max(gold.length, 1);
}

/** The exit rules of the early-exit table: confidence thresholds 0.5 ... 1.0, > 1, patience. */
export const EXIT_RULES: [string, { threshold?: number; patience?: number }][] = [
  ...[0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0].map(
    (th) => [`confidence >= ${th}`, { threshold: th }] as [string, { threshold: number }],
  ),
  ['none (threshold > 1: full model)', { threshold: 1.01 }],
  ['patience 1', { patience: 1 }],
  ['patience 2', { patience: 2 }],
];

/** Markdown header of the early-exit table. */
export const EXIT_TABLE_HEAD = ['| exit rule | accuracy | mean layers run |', '|---|---|---|'];

/**
 * The early-exit table's rows: accuracy on `texts` against `gold` and the mean layers run,
 * one row per rule (default EXIT_RULES).
 * @throws Error when the model has no exits.
 */
export function earlyExitRows(
  model: EncoderClassifier,
  tokenizer: Tokenizer,
  labels: string[],
  texts: string[],
  gold: string[],
  rules = EXIT_RULES,
): string[] {
  return rules.map(([name, opts]) => {
    const r = classifyTextsEarlyExit(model, tokenizer, labels, texts, opts);
    return `| ${name} | ${accuracy(
      r.predictions.map((p) => p.label),
      gold,
    ).toFixed(4)} | ${r.meanLayers.toFixed(2)} |`;
  });
}

function main(): void {
  const steps = Number(process.argv[2] ?? 300);
  const maxLen = Number(process.argv[3] ?? 512);
  const chunk = Number(process.argv[4] ?? 64);
  if (availableBackends().includes('native')) setBackend('native');

  const data = loadTaskData('classify', 'spamassassin');
  const test = data.test.slice(0, 300);
  const texts = test.map((e) => e.text);
  const gold = test.map((e) => e.label);
  const base: ClassifyTaskOptions = {
    train: data.train.slice(0, 3000),
    valid: data.valid.slice(0, 10),
    vocabSize: 2000,
    maxLen,
    batchTokens: 8192,
    seed: 1,
  };
  const small = { dModel: 64, nhead: 4, dimFeedforward: 128, dropout: 0.1 };

  /** Train `steps` AdamW steps; seconds taken. */
  function train(t: ClassifyTask): number {
    const opt = new AdamW(t.model.parameters(), { lr: 1e-3 });
    const t0 = Date.now();
    for (let s = 1; s <= steps; s++) {
      const { loss } = t.loss(s, 0);
      opt.zeroGrad();
      loss.backward();
      clipGradNorm(t.model.parameters(), 1);
      opt.step();
      if (s % 50 === 0) console.error(`step ${s} loss ${loss.item().toFixed(4)}`);
    }
    return (Date.now() - t0) / 1000;
  }

  // 1. Early exit
  const ee = buildClassifyTask({
    ...base,
    maxLen: 256,
    overrides: { ...small, numLayers: 4, earlyExit: true },
  });
  train(ee);
  console.log(
    `\n### Early exit (4 layers, maxLen 256, ${steps} steps, ${test.length} test e-mails)\n`,
  );
  for (const row of [
    ...EXIT_TABLE_HEAD,
    ...earlyExitRows(ee.model, ee.tokenizer, ee.labels, texts, gold),
  ])
    console.log(row);

  // 2. Hierarchical vs flat, same token budget
  console.log(`\n### Hierarchical vs flat (maxLen ${maxLen} tokens, ${steps} steps)\n`);
  console.log('| model | accuracy | train s | inference s |');
  console.log('|---|---|---|---|');
  for (const [name, overrides] of [
    ['flat, 2 layers', { ...small, numLayers: 2 }],
    [
      `hierarchical, chunks of ${chunk}, 2 + 1 layers`,
      { ...small, numLayers: 2, chunkLen: chunk, numDocLayers: 1 },
    ],
  ] as const) {
    const t = buildClassifyTask({ ...base, overrides });
    const trainS = train(t);
    const t0 = Date.now();
    const preds = classifyTexts(t.model, t.tokenizer, t.labels, texts);
    const inferS = (Date.now() - t0) / 1000;
    console.log(
      `| ${name} | ${accuracy(
        preds.map((p) => p.label),
        gold,
      ).toFixed(4)} | ${trainS.toFixed(1)} | ${inferS.toFixed(1)} |`,
    );
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
