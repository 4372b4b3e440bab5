/**
 * The options of `transformer train` that depend on the task (issue #11 items 6 and 8,
 * issue #12 selection flags): which options apply to which task, the model config from
 * --config FILE.json and --attention / --position / --heads (validated before any data is
 * tokenized), the default number of steps, a guard on the batch's memory, and the trivial
 * baselines the validation metric must beat.
 */
import { existsSync, readFileSync } from 'node:fs';
import { validateModelConfig, ConfigError, type ModelKind } from '../models/config.js';
import { lmPresets, seq2seqPresets } from '../models/presets.js';
import { parseAttentionSpec } from '../attention/registry.js';
import { parsePositionSpec } from '../attention/positions.js';
import { parseHeadsSpec } from '../attention/heads.js';
import { parseDepthSpec } from '../nn/depth-registry.js';
import { NORM_KINDS } from '../nn/norms.js';
import { classifierPresets } from '../tasks/classify.js';
import type { TaskName } from '../tasks/modeldir.js';
import { RNN_TRANSLATE_PRESET } from '../tasks/translate.js';
import { parseSamplingSchedule } from '../rnn/scheduled-sampling.js';
import { BASELINE_ARCHS, checkBaselineConfig, type BaselineArch } from '../tasks/baseline.js';

/** Flags of the pre-training / initialization options (set by pretrain.ts), neural models only. */
const NEURAL_ONLY_FLAGS = [
  'initEmbeddings',
  'freezeEmbeddings',
  'init',
  'layerLrDecay',
  'freezeLayers',
];

/** The options of `transformer train` (commander's camelCase names). */
export interface TrainCommandOptions {
  task: TaskName;
  data?: string;
  valid?: string;
  preset?: string;
  config?: string;
  attention?: string;
  position?: string;
  heads?: string;
  depth?: string;
  norm?: string;
  crossAttention?: string;
  /** translate: transformer (default), rnn, rnn-attention. */
  arch?: string;
  cell?: string;
  rnnAttention?: string;
  localWindow?: number;
  bidirectional?: boolean;
  scheduledSampling?: string;
  out?: string;
  overwrite?: boolean;
  epochs?: number;
  steps?: number;
  batchTokens?: number;
  batchSize?: number;
  lr?: number;
  evalEvery?: number;
  seed: number;
  resume?: boolean;
  separateVocab?: boolean;
  /** BPE vocabulary size (translate, classify). */
  vocabSize?: number;
  earlyStopping?: number;
  skipNonfinite?: number;
  /** Average the parameters of the last N validations into the final model. */
  averageCheckpoints?: number;
  /** classify: exit classifiers after every layer (DeeBERT). */
  earlyExit?: boolean;
  /** classify: the hierarchical model over chunks of this many tokens. */
  chunkLen?: number;
  /** lm: Transformer-XL with a memory of this many positions. */
  memLen?: number;
  /** Word vectors (word2vec text/binary, safetensors) for the token embedding's rows. */
  initEmbeddings?: string;
  /** Keep the token embedding fixed (with --init-embeddings or --init). */
  freezeEmbeddings?: boolean;
  /** classify: a pre-trained directory (`transformer pretrain`) to fine-tune from. */
  init?: string;
  /** Layer-wise learning-rate decay gamma: layer l gets lr gamma^(L - l). */
  layerLrDecay?: number;
  /** Freeze the embeddings and the bottom K layers. */
  freezeLayers?: number;
  /** The command line, to print how to resume an interrupted run. */
  argv?: string[];
}

/** Options that apply to some tasks only: flag -> tasks. */
const TASK_OPTIONS: Partial<Record<keyof TrainCommandOptions, [string, TaskName[], string]>> = {
  epochs: ['--epochs', ['translate', 'classify'], 'lm samples random windows: use --steps'],
  batchTokens: ['--batch-tokens', ['translate', 'classify'], 'lm batches are --batch-size windows'],
  batchSize: ['--batch-size', ['lm'], 'translate and classify batch by --batch-tokens'],
  separateVocab: ['--separate-vocab', ['translate'], 'only translation has two languages'],
  vocabSize: ['--vocab-size', ['translate', 'classify'], 'the lm tokenizer is set by its data'],
  earlyExit: ['--early-exit', ['classify'], 'exits classify after every layer'],
  chunkLen: ['--chunk-len', ['classify'], 'the hierarchical model classifies long documents'],
  memLen: ['--mem-len', ['lm'], 'Transformer-XL is a language model'],
  initEmbeddings: ['--init-embeddings', ['classify', 'lm'], 'one token embedding to initialize'],
  freezeEmbeddings: ['--freeze-embeddings', ['classify', 'lm'], 'one token embedding to freeze'],
  init: ['--init', ['classify'], 'fine-tuning adds a classification head'],
  layerLrDecay: ['--layer-lr-decay', ['classify'], 'a fine-tuning option'],
  freezeLayers: ['--freeze-layers', ['classify'], 'a fine-tuning option'],
};

/**
 * Refuse options that do not apply to the task.
 * @throws Error naming the option, the task, and what applies instead.
 */
export function checkTaskOptions(o: TrainCommandOptions): void {
  for (const [key, [flag, tasks, instead]] of Object.entries(TASK_OPTIONS)) {
    if (o[key as keyof TrainCommandOptions] !== undefined && !tasks.includes(o.task))
      throw new Error(
        `${flag} does not apply to --task ${o.task} (it applies to ${tasks.join(', ')}; ${instead})`,
      );
  }
}

/** Flags of the Transformer only, and of the RNN encoder-decoders only (train --arch). */
const TRANSFORMER_FLAGS = ['attention', 'position', 'heads', 'depth', 'norm', 'crossAttention'];
const RNN_FLAGS = ['cell', 'rnnAttention', 'localWindow', 'bidirectional'];
const flagName = (key: string): string =>
  `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/**
 * Check --arch and the flags that belong to one architecture: --arch needs --task translate;
 * the Transformer's flags (and --preset) are refused with --arch rnn*, the RNN flags with
 * --arch transformer, --scheduled-sampling (every arch) without --task translate, --rnn-attention and
 * --local-window with --arch rnn (no attention); --cell, --rnn-attention and the decay of
 * --scheduled-sampling must be known names.
 * @throws Error naming every offending flag and the --arch.
 */
export function checkArchOptions(o: TrainCommandOptions): void {
  const arch = o.arch ?? 'transformer';
  const given = (keys: string[]): string[] =>
    keys.filter((k) => o[k as keyof TrainCommandOptions] !== undefined).map(flagName);
  if (o.task === 'classify' && arch !== 'transformer') return checkBaselineOptions(o, arch, given);
  if (!['transformer', 'rnn', 'rnn-attention'].includes(arch))
    throw new Error(
      `--arch: '${arch}' is not transformer, rnn or rnn-attention (translate) or ${BASELINE_ARCHS.join(', ')} (classify)`,
    );
  if (arch !== 'transformer' && o.task !== 'translate')
    throw new Error(`--arch ${arch} applies to --task translate only`);
  if (o.scheduledSampling !== undefined) {
    if (o.task !== 'translate')
      throw new Error(`--scheduled-sampling applies to --task translate only, not ${o.task}`);
    parseSamplingSchedule(o.scheduledSampling, 1);
  }
  if (arch === 'transformer') {
    const bad = given(RNN_FLAGS);
    if (bad.length)
      throw new Error(`${bad.join(', ')} apply to --arch rnn or rnn-attention, not transformer`);
    return;
  }
  const bad = given([...TRANSFORMER_FLAGS, 'preset']);
  if (bad.length)
    throw new Error(
      `${bad.join(', ')} apply to --arch transformer only, not ${arch} (its sizes come from --config {"hiddenSize": ...})`,
    );
  if (arch === 'rnn') {
    const attn = given(['rnnAttention', 'localWindow']);
    if (attn.length)
      throw new Error(`${attn.join(', ')} need --arch rnn-attention (--arch rnn has no attention)`);
  }
  if (o.cell !== undefined && o.cell !== 'gru' && o.cell !== 'lstm')
    throw new Error(`--cell: '${o.cell}' is not gru or lstm`);
  if (o.rnnAttention !== undefined && !['bahdanau', 'dot', 'general'].includes(o.rnnAttention))
    throw new Error(`--rnn-attention: '${o.rnnAttention}' is not bahdanau, dot or general`);
}

/** Options of the neural models' training loop, which a baseline (fitted in one go) refuses. */
const LOOP_FLAGS = ['epochs', 'steps', 'batchTokens', 'lr', 'evalEvery', 'earlyStopping'];

/**
 * --arch tfidf-logreg | bow-nb (classify): a known baseline, and none of the Transformer's,
 * the RNNs' or the training loop's flags.
 * @throws Error naming the unknown --arch or every offending flag.
 */
function checkBaselineOptions(
  o: TrainCommandOptions,
  arch: string,
  given: (keys: string[]) => string[],
): void {
  if (!(BASELINE_ARCHS as readonly string[]).includes(arch))
    throw new Error(
      `--arch: '${arch}' is not transformer, ${BASELINE_ARCHS.join(' or ')} (classify)`,
    );
  const extra = [
    'earlyExit',
    'chunkLen',
    'skipNonfinite',
    'resume',
    'vocabSize',
    ...NEURAL_ONLY_FLAGS,
  ];
  const bad = given([...TRANSFORMER_FLAGS, ...RNN_FLAGS, ...LOOP_FLAGS, ...extra, 'preset']);
  if (bad.length)
    throw new Error(
      `${bad.join(', ')} do not apply to --arch ${arch} (a baseline is fitted in one go; its options come from --config {"C": ...})`,
    );
}

/** The RNNSeq2Seq fields set by --cell, --rnn-attention, --local-window, --bidirectional. */
export function rnnFlags(o: TrainCommandOptions): Record<string, unknown> {
  const r: Record<string, unknown> = {};
  if (o.cell !== undefined) r.cell = o.cell;
  if (o.rnnAttention !== undefined) r.attention = o.rnnAttention;
  if (o.localWindow !== undefined) r.window = o.localWindow;
  if (o.bidirectional !== undefined) r.bidirectional = o.bidirectional;
  return r;
}

/** The model kind (src/models/config.ts) of each task, and the fields its data sets. */
const MODEL_OF: Record<TaskName, { kind: ModelKind; presets: object; fromData: object }> = {
  translate: {
    kind: 'seq2seq',
    presets: seq2seqPresets,
    fromData: { srcVocabSize: 256, tgtVocabSize: 256, maxLen: 128, padId: 0 },
  },
  lm: { kind: 'lm', presets: lmPresets, fromData: { vocabSize: 256 } },
  classify: {
    kind: 'classifier',
    presets: classifierPresets,
    fromData: { vocabSize: 256, numClasses: 2, maxLen: 256, padId: 0 },
  },
};

const DEFAULT_PRESET: Record<TaskName, string> = {
  translate: 'compact',
  lm: 'char-small',
  classify: 'small',
};

/** Parse --config FILE.json into an object. @throws Error naming the file. */
export function readConfigFile(path: string | undefined): Record<string, unknown> {
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

/**
 * The model-config overrides of a run: --config FILE.json, then --attention, --position and
 * --heads, validated with the preset (validateModelConfig) before any data is read.
 * @throws Error naming --config FILE or the flag: an unknown field (with the known ones), a
 *   field the data sets (vocabulary sizes, classes, pad id, maxLen of translate/classify),
 *   an unknown attention/position/heads name or parameter, a value out of range.
 */
export function modelOverrides(o: TrainCommandOptions): Record<string, unknown> {
  const { kind, presets, fromData } = MODEL_OF[o.task];
  const file = readConfigFile(o.config);
  if (o.task === 'classify' && (o.arch ?? 'transformer') !== 'transformer')
    return { ...checkBaselineConfig(o.arch as BaselineArch, file, `--config ${o.config}`) };
  if ((o.arch ?? 'transformer') !== 'transformer') return rnnOverrides(o, file, fromData);
  for (const key of Object.keys(file)) {
    if (key in fromData && !(o.task === 'lm' && key === 'blockSize'))
      throw new Error(
        `--config ${o.config}: '${key}' is set from the data for --task ${o.task} and cannot be overridden`,
      );
  }
  const flags: Record<string, string> = {};
  const parsers: Record<string, (v: string) => unknown> = {
    attention: parseAttentionSpec,
    position: parsePositionSpec,
    heads: parseHeadsSpec,
    depth: parseDepthSpec,
    norm: (v) => {
      if (!(NORM_KINDS as readonly string[]).includes(v))
        throw new Error(`'${v}' is not one of ${NORM_KINDS.join(', ')}`);
      return v;
    },
    crossAttention: (v) => {
      if (o.task !== 'translate') throw new Error('applies to --task translate only');
      if (v !== 'final' && v !== 'layerwise') throw new Error(`'${v}' is not final or layerwise`);
      return v;
    },
  };
  for (const [key, parse] of Object.entries(parsers)) {
    const v = o[key as 'attention' | 'position' | 'heads' | 'depth' | 'norm' | 'crossAttention'];
    if (v === undefined) continue;
    try {
      parse(v);
    } catch (e) {
      const flag = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`); // crossAttention -> cross-attention
      throw new Error(`--${flag}: ${(e as Error).message}`, { cause: e });
    }
    flags[key] = v;
  }
  const preset = (presets as Record<string, object>)[o.preset ?? DEFAULT_PRESET[o.task]];
  if (preset) {
    const check = (extra: object, where: string): void => {
      try {
        validateModelConfig(kind, { ...preset, ...file, ...extra, ...fromData });
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        throw new ConfigError(`${where}: ${e.message}`);
      }
    };
    if (o.config) check({}, `--config ${o.config}`);
    const given = Object.keys(flags).map((k) => `--${k}`);
    if (given.length) check(flags, given.join(' / '));
  }
  return { ...file, ...flags };
}

/** The RNNSeq2Seq overrides: --config FILE.json, then the RNN flags, validated ('rnn' kind). */
function rnnOverrides(
  o: TrainCommandOptions,
  file: Record<string, unknown>,
  fromData: object,
): Record<string, unknown> {
  const where = o.config ? `--config ${o.config}` : `--arch ${o.arch}`;
  for (const key of Object.keys(file))
    if (key in fromData || key === 'attention')
      throw new Error(
        `${where}: '${key}' is set ${key === 'attention' ? 'by --arch / --rnn-attention' : 'from the data'} and cannot be overridden`,
      );
  const attention = o.arch === 'rnn' ? 'none' : (o.rnnAttention ?? 'bahdanau');
  const merged = { ...file, ...rnnFlags(o) };
  try {
    validateModelConfig('rnn', { ...RNN_TRANSLATE_PRESET, ...merged, attention, ...fromData });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    throw new ConfigError(`${where}: ${e.message}`);
  }
  return merged;
}

/** The step floor when neither --steps nor --epochs is given (translate, classify). */
export const MIN_DEFAULT_STEPS = 300;

/**
 * Default epochs of `train --task translate`, chosen on freedict-de-en's validation split
 * (docs/translation-recipe.md): 807 s of training for the compact preset on 2 cores with bf16
 * GEMMs (issue #19 asked for about 10 minutes; 24 epochs still score higher).
 */
export const TRANSLATE_EPOCHS = 14;

/**
 * Optimizer steps: --steps; else --epochs x steps per epoch; else the task's default epochs,
 * raised to MIN_DEFAULT_STEPS so that small data sets still get enough updates.
 */
export function stepsFor(
  o: Pick<TrainCommandOptions, 'steps' | 'epochs'>,
  stepsPerEpoch: number,
  defaultEpochs: number,
): { steps: number; why: string } {
  if (o.steps !== undefined) return { steps: o.steps, why: '--steps' };
  if (o.epochs !== undefined) return { steps: o.epochs * stepsPerEpoch, why: `${o.epochs} epochs` };
  const byEpochs = defaultEpochs * stepsPerEpoch;
  return byEpochs >= MIN_DEFAULT_STEPS
    ? { steps: byEpochs, why: `${defaultEpochs} epochs (default)` }
    : {
        steps: MIN_DEFAULT_STEPS,
        why: `the default minimum of ${MIN_DEFAULT_STEPS} steps (${defaultEpochs} epochs would be ${byEpochs})`,
      };
}

/** The most activation memory a batch may need, by the estimate below: 2^30 floats (4 GiB). */
export const MAX_BATCH_FLOATS = 2 ** 30;

/** The shape of a batch and its model, for checkBatchSize. */
export interface BatchShape {
  /** Tokens in one batch (rows x length, padding included). */
  tokens: number;
  /** Sequence length the attention sees. */
  length: number;
  vocab: number;
  dModel: number;
  dff: number;
  heads: number;
  /** Layers (encoder + decoder for translation). */
  layers: number;
}

/**
 * Refuse a batch whose activations would not fit, before anything is allocated. The
 * estimate (floats kept for backward, and their gradients) is tokens x (layers x
 * (16 d_model + 3 d_ff + 3 h L) + 2 V): projections, residuals and norms, the FFN, scores
 * and probabilities, logits and their gradient.
 * @param flag the option that sets the batch size, named in the error.
 * @throws Error naming `flag`, its value and the estimate when above MAX_BATCH_FLOATS.
 */
export function checkBatchSize(flag: string, value: number, b: BatchShape): void {
  const perToken = b.layers * (16 * b.dModel + 3 * b.dff + 3 * b.heads * b.length) + 2 * b.vocab;
  const floats = b.tokens * perToken;
  if (floats > MAX_BATCH_FLOATS)
    throw new Error(
      `${flag} ${value}: a batch would need about ${((floats * 4) / 2 ** 30).toFixed(1)} GiB of activations (at most ${(MAX_BATCH_FLOATS * 4) / 2 ** 30} GiB); lower ${flag}`,
    );
}
