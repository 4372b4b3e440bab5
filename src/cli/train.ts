/**
 * `transformer train`: builds the task (data, tokenizer, model), runs the Trainer, writes
 * the model directory and loss.svg, and prints the final figures.
 *
 * Nothing lost (issue #11): the run writes into a temporary folder renamed to --out at the
 * end (src/cli/run-dir.ts); Ctrl-C writes a checkpoint and prints the command that resumes
 * it; a non-finite loss stops with the last good checkpoint kept and no model saved; the
 * end of a run warns when validation never beat the trivial baseline.
 */
import { join } from 'node:path';
import type { Module } from '../nn/module.js';
import type { AdamW } from '../train/optim.js';
import { DEFAULT_BATCH, recipeOptimizer, recipeSchedule, trainRecipe } from '../train/recipe.js';
import { NonFiniteError, Trainer, type FitResult } from '../train/trainer.js';
import { describeAverage } from '../train/average.js';
import { buildLMTask } from '../tasks/lm.js';
import { loadTaskData } from '../tasks/data.js';
import { TARGET_TOKENIZER, buildTranslateTask, translateIds } from '../tasks/translate.js';
import { saveTokenizer, type Tokenizer } from '../tokenizers/index.js';
import { buildClassifyTask, classifyTexts } from '../tasks/classify.js';
import { corpusBleu } from '../metrics/index.js';
import { dataFingerprint, saveModelDir, type ModelDirConfig } from '../tasks/modeldir.js';
import { baselineWarning, readMetrics, writeLossChart, type Baseline } from '../tasks/report.js';
import type { Generator } from '../random.js';
import { RNNSeq2Seq } from '../rnn/seq2seq.js';
import { parseSamplingSchedule, type SamplingSchedule } from '../rnn/scheduled-sampling.js';
import {
  checkArchOptions,
  checkBatchSize,
  checkTaskOptions,
  modelOverrides,
  stepsFor,
  TRANSLATE_EPOCHS,
  type TrainCommandOptions,
} from './train-options.js';
import {
  abandonedRuns,
  checkRunDir,
  commitRunDir,
  parkRunDir,
  prepareRunDir,
  type RunDir,
} from './run-dir.js';
import { output } from './output.js';
import { applyPrecision, bf16Native, precisionChosen, probeBf16 } from './precision.js';
import { trainBaselineCommand } from './train-baseline.js';
import { applyInitOptions, loadInit, pretrainedSetup, trainGroups } from './train-init.js';

export type { TrainCommandOptions } from './train-options.js';

function log(msg: string): void {
  output.err(msg + '\n');
}

/** Run `transformer train`. */
export async function runTrain(o: TrainCommandOptions): Promise<void> {
  checkTaskOptions(o);
  checkArchOptions(o);
  if (o.vocabSize !== undefined && o.init !== undefined)
    throw new Error(
      `--vocab-size does not apply with --init: the pre-trained model's tokenizer (${o.init}) is used`,
    );
  const overrides = modelOverrides(o);
  const out = o.out ?? join('runs', o.task);
  if (o.overwrite && o.resume)
    throw new Error('--overwrite and --resume exclude each other (--resume continues DIR)');
  checkRunDir(out, { overwrite: o.overwrite, resume: o.resume });
  for (const dir of abandonedRuns(out))
    log(`note: ${dir} holds an interrupted earlier run (resume it with --resume --out ${dir})`);
  if (o.task === 'lm') return trainLMCommand(o, out, overrides);
  if (o.task === 'translate') return trainTranslateCommand(o, out, overrides);
  if ((o.arch ?? 'transformer') !== 'transformer') return trainBaselineCommand(o, out, overrides);
  return trainClassifyCommand(o, out, overrides);
}

async function trainTranslateCommand(
  o: TrainCommandOptions,
  out: string,
  overrides: Record<string, unknown>,
): Promise<void> {
  const dataName = o.data ?? 'freedict-de-en';
  const data = loadTaskData('translate', dataName, o.valid);
  const batchTokens = o.batchTokens ?? DEFAULT_BATCH.translate;
  const rnn = (o.arch ?? 'transformer') !== 'transformer';
  let sampling: SamplingSchedule | undefined; // set once the steps are known
  const task = buildTranslateTask({
    train: data.train,
    valid: data.valid,
    preset: o.preset,
    ...(rnn ? { arch: o.arch as 'rnn' | 'rnn-attention', rnn: overrides } : { overrides }),
    teacherForcing: o.scheduledSampling ? (i) => sampling!.teacherForcing(i) : undefined,
    batchTokens,
    separateVocab: o.separateVocab ?? false,
    vocabSize: o.vocabSize,
    seed: o.seed,
  });
  const m = task.model;
  const c = m.config;
  checkBatchSize(
    '--batch-tokens',
    batchTokens,
    m instanceof RNNSeq2Seq
      ? {
          tokens: batchTokens,
          length: 0,
          vocab: c.tgtVocabSize,
          dModel: 2 * m.config.hiddenSize,
          dff: 4 * m.config.hiddenSize,
          heads: 0,
          layers: 2 * m.config.numLayers,
        }
      : {
          tokens: batchTokens,
          length: c.maxLen,
          vocab: c.tgtVocabSize,
          dModel: m.config.dModel,
          dff: m.config.dimFeedforward,
          heads: m.config.nhead,
          layers: m.config.numEncoderLayers + m.config.numDecoderLayers,
        },
  );
  const { steps, why } = stepsFor(o, task.stepsPerEpoch, TRANSLATE_EPOCHS);
  if (o.scheduledSampling) sampling = parseSamplingSchedule(o.scheduledSampling, steps);
  if (!rnn && !precisionChosen() && bf16Native()) {
    // bf16 where it is native and a probe GEMM measures it faster than float32 here.
    const probe = probeBf16();
    const times = `probe GEMM ${probe.bf16.toFixed(2)} ms bf16, ${probe.fp32.toFixed(2)} ms float32`;
    if (probe.faster) {
      applyPrecision('bf16');
      log(
        `precision: bf16 GEMMs, float32 accumulation (the translation default where the CPU has AVX512-BF16 and it is faster: ${times}; --precision fp32 for float32 GEMMs)`,
      );
    } else
      log(
        `precision: float32 GEMMs (the CPU has AVX512-BF16, but bf16 was not faster here: ${times}; --precision bf16 to take it anyway)`,
      );
  }
  const recipe = trainRecipe('translate', steps, o.lr);
  log(
    `translation: ${task.dirConfig.model}${m instanceof RNNSeq2Seq ? ` (${m.config.cell}, attention ${m.config.attention}${m.config.window ? `, local-p window ${m.config.window}` : ''}${m.config.bidirectional ? ', bidirectional encoder' : ''})` : ''}${sampling ? `, scheduled sampling ${sampling.spec}` : ''}, ${task.model.numParameters().toLocaleString()} parameters, ${o.separateVocab ? `BPE vocabularies ${task.vocabs.src.vocabSize} + ${task.vocabs.tgt.vocabSize}` : `joint BPE vocabulary ${task.vocabs.src.vocabSize}`}, ` +
      `${task.trainPairs.toLocaleString()} training pairs (${data.valid.length} valid, ${data.test.length} test), ${task.stepsPerEpoch} steps per epoch, ${steps} steps (${why})`,
  );
  const dirConfig = {
    ...task.dirConfig,
    data: dataFingerprint(dataName, data.train, o.valid !== undefined),
  };
  const done = await fitAndSave(task, dirConfig, task.vocabs.src, out, o, {
    steps,
    optimizer: recipeOptimizer(task.model, recipe),
    schedule: recipeSchedule(recipe),
    evalEvery: o.evalEvery ?? evalEveryFor(task.stepsPerEpoch, steps, 500),
    extraFiles: async (dir) => {
      if (task.vocabs.tgt !== task.vocabs.src)
        await saveTokenizer(task.vocabs.tgt, join(dir, TARGET_TOKENIZER));
    },
  });
  if (!done) return;
  // Held-out test sentences: BLEU and a few translations.
  const test = data.test.slice(0, 500);
  const src = test.map((p) => task.vocabs.src.encode(p.source).slice(0, 64));
  const hyps = translateIds(task.model, task.vocabs, src, { beam: 1, maxLen: 64 });
  const bleu = corpusBleu(hyps, [test.map((p) => p.target)]);
  log(`test BLEU (greedy, ${test.length} held-out pairs): ${bleu.format()}`);
  for (let i = 0; i < Math.min(5, test.length); i++)
    log(`  ${test[i].source}\n    -> ${hyps[i]}\n    (reference: ${test[i].target})`);
}

async function trainClassifyCommand(
  o: TrainCommandOptions,
  out: string,
  overrides: Record<string, unknown>,
): Promise<void> {
  const dataName = o.data ?? 'spamassassin';
  const data = loadTaskData('classify', dataName, o.valid);
  const batchTokens = o.batchTokens ?? DEFAULT_BATCH.classify;
  const init = pretrainedSetup(o, overrides);
  const task = buildClassifyTask({
    train: data.train,
    valid: data.valid,
    preset: o.preset,
    tokenizer: init.tokenizer,
    vocabSize: o.vocabSize,
    maxLen: init.maxLen,
    overrides: {
      ...init.overrides,
      ...(o.earlyExit ? { earlyExit: true } : {}),
      ...(o.chunkLen !== undefined ? { chunkLen: o.chunkLen } : {}),
    },
    batchTokens,
    seed: o.seed,
  });
  const c = task.model.config;
  checkBatchSize('--batch-tokens', batchTokens, {
    tokens: batchTokens,
    length: c.maxLen,
    vocab: c.numClasses,
    dModel: c.dModel,
    dff: c.dimFeedforward,
    heads: c.nhead,
    layers: c.numLayers,
  });
  if (init.pre) log(loadInit(task.model, task.tokenizer, init.pre));
  for (const line of applyInitOptions(task.model, task.tokenizer, o, c.numLayers)) log(line);
  const { steps, why } = stepsFor(o, task.stepsPerEpoch, 2);
  const recipe = trainRecipe('classify', steps, o.lr);
  log(
    `classification: EncoderClassifier, ${task.model.numParameters().toLocaleString()} parameters, BPE vocabulary ${task.tokenizer.vocabSize}, ` +
      `labels ${task.labels.join(', ')}, ${data.train.length} training examples (${data.valid.length} valid, ${data.test.length} test), ${task.stepsPerEpoch} steps per epoch, ${steps} steps (${why})`,
  );
  const dirConfig = {
    ...task.dirConfig,
    data: dataFingerprint(dataName, data.train, o.valid !== undefined),
  };
  const done = await fitAndSave(task, dirConfig, task.tokenizer, out, o, {
    steps,
    optimizer: recipeOptimizer(
      task.model,
      recipe,
      trainGroups(task.model, recipe.optimizer.weightDecay, o, c.numLayers),
    ),
    schedule: recipeSchedule(recipe),
    evalEvery: o.evalEvery ?? evalEveryFor(task.stepsPerEpoch, steps, 200),
  });
  if (!done) return;
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

async function trainLMCommand(
  o: TrainCommandOptions,
  out: string,
  overrides: Record<string, unknown>,
): Promise<void> {
  const data = loadTaskData('lm', o.data ?? 'tinyshakespeare', o.valid);
  const batchSize = o.batchSize ?? DEFAULT_BATCH.lm;
  const task = buildLMTask({
    text: data.text,
    validText: data.validText,
    preset: o.preset,
    ...(o.memLen !== undefined ? { model: 'TransformerXL' as const } : {}),
    overrides: { ...overrides, ...(o.memLen !== undefined ? { memLen: o.memLen } : {}) },
    batchSize,
    seed: o.seed,
    evalBatches: 20,
  });
  const c = task.model.config;
  checkBatchSize('--batch-size', batchSize, {
    tokens: batchSize * c.blockSize,
    length: c.blockSize,
    vocab: c.vocabSize,
    dModel: c.dModel,
    dff: c.dimFeedforward,
    heads: c.nhead,
    layers: c.numLayers,
  });
  for (const line of applyInitOptions(task.model, task.tokenizer, o, c.numLayers)) log(line);
  const steps = o.steps ?? 2000;
  const recipe = trainRecipe('lm', steps, o.lr);
  log(
    `language model: DecoderLM, ${task.model.numParameters().toLocaleString()} parameters, vocabulary ${task.tokenizer.vocabSize}, ${task.trainTokens.toLocaleString()} training tokens, ${steps} steps`,
  );
  await fitAndSave(task, task.dirConfig, task.tokenizer, out, o, {
    steps,
    optimizer: recipeOptimizer(
      task.model,
      recipe,
      trainGroups(task.model, recipe.optimizer.weightDecay, o, c.numLayers),
    ),
    schedule: recipeSchedule(recipe),
    evalEvery: o.evalEvery ?? 250,
  });
}

/**
 * Default validation interval: once an epoch, but no more than 20 times a run (small data
 * sets have epochs of a step or two) and at least every `most` steps.
 */
function evalEveryFor(stepsPerEpoch: number, steps: number, most: number): number {
  return Math.max(1, Math.min(Math.max(stepsPerEpoch, Math.ceil(steps / 20)), most));
}

/** A task as fitAndSave needs it. */
type FitTask = ConstructorParameters<typeof Trainer>[0] & {
  model: Module;
  generator: Generator;
  baseline: Baseline;
};

/** The command that resumes a stopped run in `dir`. */
function resumeCommand(o: TrainCommandOptions, dir: string): string {
  const args: string[] = [];
  const argv = o.argv ?? [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out') i++;
    else if (!['--overwrite', '--resume'].includes(argv[i]) && !argv[i].startsWith('--out='))
      args.push(/^[\w@%+=:,./-]+$/.test(argv[i]) ? argv[i] : `'${argv[i].replace(/'/g, "'\\''")}'`);
  }
  return `transformer ${args.join(' ')} --resume --out ${dir}`;
}

/** Log one progress line (when stderr is not a terminal: every 100 steps and each evaluation). */
function stepLogger(steps: number, unit: string): (r: Record<string, number>) => void {
  return (r) => {
    if (process.stderr.isTTY || (r.valid_loss === undefined && r.step % 100 !== 0)) return;
    const skip = ['step', 'loss', 'lr', 'tokens', 'tokens_per_s', 'seconds', 'grad_norm'];
    const extra = Object.entries(r)
      .filter(([k]) => !skip.includes(k))
      .map(([k, v]) => ` ${k} ${v.toFixed(4)}`)
      .join('');
    const eta = ((steps - r.step) * r.seconds) / r.step; // from the mean step time so far
    log(
      `step ${r.step}/${steps} loss ${r.loss.toFixed(4)} lr ${r.lr.toExponential(2)} ${Math.round(r.tokens_per_s)} ${unit}/s ${r.seconds.toFixed(0)} s, eta ${eta.toFixed(0)} s${extra}`,
    );
  };
}

/** Run the trainer with Ctrl-C (SIGINT) stopping it after the current step. */
async function fitInterruptibly(trainer: Trainer): Promise<FitResult> {
  let signals = 0;
  const onSignal = (): void => {
    if (++signals > 1) process.exit(130); // a second Ctrl-C: quit now
    log('\nstopping after this step and writing a checkpoint (Ctrl-C again to quit now)');
    trainer.requestStop();
  };
  process.on('SIGINT', onSignal);
  try {
    return await trainer.fitAsync();
  } finally {
    process.off('SIGINT', onSignal);
  }
}

/**
 * Shared tail of every train command: Trainer.fit in the run folder, then the model
 * directory, loss chart, baseline check and summary.
 * @returns true when the run finished (false: interrupted, checkpoint kept).
 * @throws Error for a non-finite loss (the checkpoint kept, no model saved) or a batch that
 *   does not fit in memory, naming the option to change.
 */
export async function fitAndSave(
  task: FitTask,
  dirConfig: ModelDirConfig,
  tokenizer: Tokenizer,
  out: string,
  o: TrainCommandOptions,
  run: {
    steps: number;
    optimizer: AdamW;
    schedule: (s: number) => number;
    evalEvery: number;
    /** Write task-specific files into the model directory. */
    extraFiles?: (dir: string) => Promise<void>;
  },
): Promise<boolean> {
  const unit = dirConfig.task === 'classify' ? 'ex' : 'tok'; // classification counts examples
  const rd: RunDir = prepareRunDir(out, { overwrite: o.overwrite, resume: o.resume });
  const trainer = new Trainer(task, run.optimizer, run.schedule, {
    maxSteps: run.steps,
    outDir: rd.work,
    resume: o.resume ?? false,
    evalEvery: run.evalEvery,
    generators: [task.generator],
    earlyStoppingPatience: o.earlyStopping ?? null,
    skipNonfinite: o.skipNonfinite ?? 0,
    progress: process.stderr.isTTY === true,
    unit,
    onStep: stepLogger(run.steps, unit),
    averageCheckpoints: o.averageCheckpoints,
  });
  const t0 = Date.now();
  let result: FitResult;
  try {
    result = await fitInterruptibly(trainer);
  } catch (e) {
    const kept = parkRunDir(rd);
    const where = kept
      ? `the last good checkpoint is in ${kept} (resume: ${resumeCommand(o, kept)})`
      : 'no checkpoint was written';
    if (e instanceof NonFiniteError)
      throw new Error(
        `training stopped at ${NonFiniteError.describe(e.step, e.lastFiniteLoss, e.what)}; no model was saved; try a lower --lr (now ${run.optimizer.lr.toExponential(2)}) or --skip-nonfinite N to skip up to N bad batches; ${where}`,
        { cause: e },
      );
    if (e instanceof RangeError)
      throw new Error(
        `out of memory for a batch (${e.message}); lower ${dirConfig.task === 'lm' ? '--batch-size' : '--batch-tokens'}; ${where}`,
        { cause: e },
      );
    throw e;
  }
  if (result.interrupted) {
    const kept = parkRunDir(rd);
    log(
      `interrupted at step ${result.step}/${run.steps}; checkpoint in ${kept}. Resume with:\n  ${resumeCommand(o, kept ?? out)}`,
    );
    process.exitCode = 130;
    return false;
  }
  if (result.averaged) log(describeAverage(result.averaged));
  await saveModelDir(rd.work, dirConfig, task.model, tokenizer);
  await run.extraFiles?.(rd.work);
  await writeLossChart(rd.work);
  const warning = baselineWarning(readMetrics(rd.work), task.baseline);
  commitRunDir(rd);
  log(
    `done: step ${result.step}${result.stoppedEarly ? ' (early stop)' : ''}, best validation loss ${result.bestValid.toFixed(4)}, ${((Date.now() - t0) / 1000).toFixed(1)} s this run; model in ${out}`,
  );
  if (warning) log(warning);
  return true;
}
