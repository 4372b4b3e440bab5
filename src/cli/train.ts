/**
 * `transformer train`: builds the task (data, tokenizer, model), runs the Trainer, writes
 * the model directory and loss.svg, and prints the final figures.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Module } from '../nn/module.js';
import { AdamW, weightDecayGroups } from '../train/optim.js';
import { cosineSchedule } from '../train/schedule.js';
import { Trainer } from '../train/trainer.js';
import { buildLMTask } from '../tasks/lm.js';
import { loadTaskData } from '../tasks/data.js';
import { TARGET_TOKENIZER, buildTranslateTask, translateIds } from '../tasks/translate.js';
import { saveTokenizer } from '../tokenizers/index.js';
import { buildClassifyTask, classifyTexts } from '../tasks/classify.js';
import { corpusBleu } from '../metrics/index.js';
import { saveModelDir, type TaskName } from '../tasks/modeldir.js';
import { writeLossChart } from '../tasks/report.js';

export interface TrainCommandOptions {
  task: TaskName;
  data?: string;
  valid?: string;
  preset?: string;
  config?: string;
  out?: string;
  epochs?: number;
  steps?: number;
  batchTokens?: number;
  batchSize?: number;
  lr?: number;
  evalEvery?: number;
  seed: number;
  resume?: boolean;
  separateVocab?: boolean;
  earlyStopping?: number;
}

/** Parse --config FILE.json into an object. @throws Error naming the file. */
export function readConfigOverrides(path: string | undefined): Record<string, unknown> {
  if (!path) return {};
  if (!existsSync(path)) throw new Error(`--config: no such file '${path}'`);
  try {
    const obj = JSON.parse(readFileSync(path, 'utf8'));
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
      throw new Error('not a JSON object');
    return obj as Record<string, unknown>;
  } catch (e) {
    throw new Error(`--config: ${path}: ${(e as Error).message}`, { cause: e });
  }
}

function log(msg: string): void {
  process.stderr.write(msg + '\n');
}

/** Run `transformer train`. */
export async function runTrain(o: TrainCommandOptions): Promise<void> {
  const out = o.out ?? join('runs', o.task);
  if (o.task === 'lm') return trainLMCommand(o, out);
  if (o.task === 'translate') return trainTranslateCommand(o, out);
  return trainClassifyCommand(o, out);
}

/** Steps from --steps, else --epochs (or the default) times the steps per epoch. */
function stepsFor(o: TrainCommandOptions, stepsPerEpoch: number, defaultEpochs: number): number {
  return o.steps ?? (o.epochs ?? defaultEpochs) * stepsPerEpoch;
}

async function trainTranslateCommand(o: TrainCommandOptions, out: string): Promise<void> {
  const data = loadTaskData('translate', o.data ?? 'freedict-de-en', o.valid);
  const task = buildTranslateTask({
    train: data.train,
    valid: data.valid,
    preset: o.preset,
    overrides: readConfigOverrides(o.config),
    batchTokens: o.batchTokens ?? 1000,
    separateVocab: o.separateVocab ?? false,
    seed: o.seed,
  });
  const steps = stepsFor(o, task.stepsPerEpoch, 5);
  const lr = o.lr ?? 1e-3;
  log(
    `translation: Seq2SeqTransformer, ${task.model.numParameters().toLocaleString()} parameters, ${o.separateVocab ? `BPE vocabularies ${task.vocabs.src.vocabSize} + ${task.vocabs.tgt.vocabSize}` : `joint BPE vocabulary ${task.vocabs.src.vocabSize}`}, ` +
      `${task.trainPairs.toLocaleString()} training pairs (${data.valid.length} valid, ${data.test.length} test), ${task.stepsPerEpoch} steps per epoch, ${steps} steps`,
  );
  await fitAndSave(task.model, task, task.dirConfig, task.vocabs.src, out, o, {
    steps,
    optimizer: new AdamW(weightDecayGroups(task.model, 0.01), {
      lr,
      betas: [0.9, 0.98],
      eps: 1e-9,
    }),
    schedule: cosineSchedule(lr, Math.min(400, Math.floor(steps / 10)), steps + 1, lr / 20),
    evalEvery: o.evalEvery ?? Math.max(1, Math.min(task.stepsPerEpoch, 500)),
  });
  if (task.vocabs.tgt !== task.vocabs.src)
    await saveTokenizer(task.vocabs.tgt, join(out, TARGET_TOKENIZER));
  // Held-out test sentences: BLEU and a few translations.
  const test = data.test.slice(0, 500);
  const src = test.map((p) => task.vocabs.src.encode(p.source).slice(0, 64));
  const hyps = translateIds(task.model, task.vocabs, src, { beam: 1, maxLen: 64 });
  const bleu = corpusBleu(hyps, [test.map((p) => p.target)]);
  log(`test BLEU (greedy, ${test.length} held-out pairs): ${bleu.format()}`);
  for (let i = 0; i < Math.min(5, test.length); i++)
    log(`  ${test[i].source}\n    -> ${hyps[i]}\n    (reference: ${test[i].target})`);
}

async function trainClassifyCommand(o: TrainCommandOptions, out: string): Promise<void> {
  const data = loadTaskData('classify', o.data ?? 'spamassassin', o.valid);
  const task = buildClassifyTask({
    train: data.train,
    valid: data.valid,
    preset: o.preset,
    overrides: readConfigOverrides(o.config),
    batchTokens: o.batchTokens ?? 8192,
    seed: o.seed,
  });
  const steps = stepsFor(o, task.stepsPerEpoch, 2);
  const lr = o.lr ?? 5e-4;
  log(
    `classification: EncoderClassifier, ${task.model.numParameters().toLocaleString()} parameters, BPE vocabulary ${task.tokenizer.vocabSize}, ` +
      `labels ${task.labels.join(', ')}, ${data.train.length} training examples (${data.valid.length} valid, ${data.test.length} test), ${steps} steps`,
  );
  await fitAndSave(task.model, task, task.dirConfig, task.tokenizer, out, o, {
    steps,
    optimizer: new AdamW(weightDecayGroups(task.model, 0.01), { lr }),
    schedule: cosineSchedule(lr, Math.min(100, Math.floor(steps / 10)), steps + 1, lr / 10),
    evalEvery: o.evalEvery ?? Math.max(1, Math.min(task.stepsPerEpoch, 200)),
  });
  const preds = classifyTexts(
    task.model,
    task.tokenizer,
    task.labels,
    data.test.map((e) => e.text),
  );
  const correct = preds.filter((p, i) => p.label === data.test[i].label).length;
  log(
    `test accuracy: ${((correct / Math.max(data.test.length, 1)) * 100).toFixed(2)}% (${correct}/${data.test.length})`,
  );
}

async function trainLMCommand(o: TrainCommandOptions, out: string): Promise<void> {
  const data = loadTaskData('lm', o.data ?? 'tinyshakespeare', o.valid);
  const task = buildLMTask({
    text: data.text,
    validText: data.validText,
    preset: o.preset,
    overrides: readConfigOverrides(o.config),
    batchSize: o.batchSize ?? 12,
    seed: o.seed,
    evalBatches: 20,
  });
  const steps = o.steps ?? 2000;
  const lr = o.lr ?? 1e-3;
  log(
    `language model: DecoderLM, ${task.model.numParameters().toLocaleString()} parameters, vocabulary ${task.tokenizer.vocabSize}, ${task.trainTokens.toLocaleString()} training tokens`,
  );
  await fitAndSave(task.model, task, task.dirConfig, task.tokenizer, out, o, {
    steps,
    optimizer: new AdamW(weightDecayGroups(task.model, 0.1), { lr, betas: [0.9, 0.99] }),
    schedule: cosineSchedule(lr, Math.min(100, Math.floor(steps / 10)), steps + 1, lr / 10),
    evalEvery: o.evalEvery ?? 250,
  });
}

/** Shared tail of every train command: Trainer.fit, model directory, loss chart, summary. */
export async function fitAndSave(
  model: Module,
  task: ConstructorParameters<typeof Trainer>[0] & { generator: import('../random.js').Generator },
  dirConfig: Parameters<typeof saveModelDir>[1],
  tokenizer: Parameters<typeof saveModelDir>[3],
  out: string,
  o: TrainCommandOptions,
  run: {
    steps: number;
    optimizer: AdamW;
    schedule: (s: number) => number;
    evalEvery: number;
  },
): Promise<void> {
  const unit = dirConfig.task === 'classify' ? 'ex' : 'tok'; // classification counts examples
  const trainer = new Trainer(task, run.optimizer, run.schedule, {
    maxSteps: run.steps,
    outDir: out,
    resume: o.resume ?? false,
    evalEvery: run.evalEvery,
    generators: [task.generator],
    earlyStoppingPatience: o.earlyStopping ?? null,
    progress: process.stderr.isTTY === true,
    unit,
    onStep: (r) => {
      if (!process.stderr.isTTY && (r.valid_loss !== undefined || r.step % 100 === 0)) {
        const extra = Object.entries(r)
          .filter(
            ([k]) =>
              !['step', 'loss', 'lr', 'tokens', 'tokens_per_s', 'seconds', 'grad_norm'].includes(k),
          )
          .map(([k, v]) => ` ${k} ${v.toFixed(4)}`)
          .join('');
        const eta = ((run.steps - r.step) * r.seconds) / r.step; // from the mean step time so far
        log(
          `step ${r.step}/${run.steps} loss ${r.loss.toFixed(4)} lr ${r.lr.toExponential(2)} ${Math.round(r.tokens_per_s)} ${unit}/s ${r.seconds.toFixed(0)} s, eta ${eta.toFixed(0)} s${extra}`,
        );
      }
    },
  });
  const t0 = Date.now();
  const result = trainer.fit();
  await saveModelDir(out, dirConfig, model, tokenizer);
  await writeLossChart(out);
  log(
    `done: step ${result.step}${result.stoppedEarly ? ' (early stop)' : ''}, best validation loss ${result.bestValid.toFixed(4)}, ${((Date.now() - t0) / 1000).toFixed(1)} s this run; model in ${out}`,
  );
}
