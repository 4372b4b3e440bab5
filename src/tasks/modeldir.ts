/**
 * A model directory, as Hugging Face users expect: config.json (task, model class, model
 * config, task extras), model.safetensors (PyTorch state-dict names), tokenizer.json
 * (Hugging Face format), plus metrics.jsonl and loss.svg from training.
 */
import { createHash } from 'node:crypto';
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Module } from '../nn/module.js';
import { loadModel, saveModel } from '../io/checkpoint.js';
import { preview, readJsonFile } from '../io/json-file.js';
import { ConfigError, validateModelConfig } from '../models/config.js';
import { loadTokenizer, saveTokenizer, type Tokenizer } from '../tokenizers/index.js';
import { BASELINE_MODELS } from './baseline.js';

export type TaskName = 'lm' | 'translate' | 'classify';

export interface ModelDirConfig {
  task: TaskName;
  /** Model class name. */
  model: string;
  /** The model's constructor config. */
  config: Record<string, unknown>;
  /** Class labels (classify). */
  labels?: string[];
  /** transformer-ts version that wrote it. */
  version?: string;
  /** The training data, as {@link dataFingerprint} saw it (translate, classify). */
  data?: DataFingerprint;
}

/** What a model was trained on: the data's name and a hash of its training split. */
export interface DataFingerprint {
  /** The --data argument: a built-in name or a file path. */
  name: string;
  /** Items in the training split. */
  trainItems: number;
  /** SHA-256 (hex) of the training split, one JSON item per line. */
  trainSha256: string;
  /** True when training had a --valid file: its split of the data has no valid part. */
  validFile?: boolean;
}

/**
 * The fingerprint of a training split: its size and the SHA-256 of its items as JSON lines.
 * `eval` compares it with the split it would score, so a model trained on another version
 * of the data (whose held-out part may then hold its training items) is pointed out.
 * @param name the --data argument
 * @param train the training split's items (pairs or labelled texts)
 * @param validFile whether training had a --valid file (then the data's split has no valid
 *   part, and eval must split the same way to compare)
 */
export function dataFingerprint(
  name: string,
  train: readonly unknown[],
  validFile = false,
): DataFingerprint {
  const h = createHash('sha256');
  for (const item of train) h.update(JSON.stringify(item) + '\n');
  const fp: DataFingerprint = { name, trainItems: train.length, trainSha256: h.digest('hex') };
  return validFile ? { ...fp, validFile } : fp;
}

/** Write config.json atomically (temp file, then rename). */
export function writeJsonAtomic(path: string, obj: unknown): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(obj, null, 2) + '\n');
  renameSync(tmp, path);
}

/** Save config.json, model.safetensors and tokenizer.json into `dir` (synchronously). */
export function saveModelDir(
  dir: string,
  cfg: ModelDirConfig,
  model: Module,
  tok: Tokenizer,
): void {
  writeJsonAtomic(join(dir, 'config.json'), { version: '0.1.0', ...cfg });
  saveModel(model, join(dir, 'model.safetensors'), { task: cfg.task, model: cfg.model });
  saveTokenizer(tok, join(dir, 'tokenizer.json'));
}

/** Prefix `path: ` to an error's message unless it already names the file. */
function naming(path: string, e: unknown): Error {
  const msg = (e as Error).message ?? String(e);
  return new Error(msg.includes(path) ? msg : `${path}: ${msg}`, { cause: e });
}

/** The model config kind of each task (validateModelConfig). */
const MODEL_KIND = { lm: 'lm', translate: 'seq2seq', classify: 'classifier' } as const;

/**
 * Read config.json of a model directory, check its task and validate its model config
 * (validateModelConfig) before any model is built. The JSON is bounded (64 MB, nesting 32, 1,000 members per object).
 * @throws Error naming the directory when it is not a model directory or holds another task;
 *   Error (ConfigError for the model config) naming config.json and the problem otherwise.
 */
export function readModelDirConfig(dir: string, want?: TaskName | TaskName[]): ModelDirConfig {
  const path = join(dir, 'config.json');
  if (!existsSync(path))
    throw new Error(
      `--model: '${dir}' has no config.json (is it a model directory written by 'transformer train'?)`,
    );
  const limits = { maxDepth: 32, maxValues: 4_000_000, maxMembers: 1000 };
  const cfg = readJsonFile(path, limits, 64_000_000) as ModelDirConfig;
  const bad = (what: string): Error => new Error(`${path}: ${what}`);
  if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg))
    throw bad('expected a JSON object with task, model and config');
  if (!Object.hasOwn(MODEL_KIND, cfg.task))
    throw bad(`task must be 'lm', 'translate' or 'classify', got ${preview(cfg.task)}`);
  const baseline = (Object.values(BASELINE_MODELS) as string[]).includes(cfg.model);
  if (baseline && (typeof cfg.config !== 'object' || cfg.config === null))
    throw bad('config must be an object');
  if (!baseline)
    try {
      // Transformer-XL and the RNN encoder-decoder have their own schemas; a hierarchical classifier is the classifier's plus
      // chunkLen and numDocLayers, which its constructor checks.
      const kind =
        cfg.model === 'TransformerXL'
          ? 'xl'
          : cfg.model === 'RNNSeq2Seq'
            ? 'rnn'
            : cfg.model === 'MaskedLM'
              ? 'classifier'
              : MODEL_KIND[cfg.task];
      const own = cfg.model === 'HierarchicalClassifier' ? ['chunkLen', 'numDocLayers'] : [];
      const checked = Object.fromEntries(
        Object.entries(cfg.config ?? {}).filter(([k]) => !own.includes(k)),
      );
      if (cfg.model === 'MaskedLM') checked.numClasses = checked.vocabSize; // its classes are the tokens
      validateModelConfig(kind, typeof cfg.config === 'object' ? checked : cfg.config);
    } catch (e) {
      throw e instanceof ConfigError ? new ConfigError(`${path}: ${e.message}`) : e;
    }
  const labels = cfg.labels;
  const classes = cfg.task === 'classify' ? cfg.config.numClasses : undefined;
  const labelsOk =
    labels === undefined
      ? classes === undefined
      : Array.isArray(labels) &&
        labels.every((l) => typeof l === 'string') &&
        (classes === undefined || labels.length === classes);
  if (!labelsOk)
    throw bad(
      classes === undefined
        ? 'labels must be an array of strings'
        : `labels must be ${String(classes)} strings, one per class`,
    );
  const wanted = want === undefined ? [] : Array.isArray(want) ? want : [want];
  if (wanted.length && cfg.model === 'MaskedLM')
    throw new Error(
      `--model: '${dir}' holds an encoder pre-trained by masked-LM ('transformer pretrain --objective mlm'); fine-tune it with 'transformer train --task classify --init ${dir}'`,
    );
  if (wanted.length && !wanted.includes(cfg.task)) {
    throw new Error(
      `--model: '${dir}' holds a '${cfg.task}' model; this command needs ${wanted.map((w) => `'${w}'`).join(' or ')}`,
    );
  }
  return cfg;
}

/**
 * Build a model from a directory's config (the constructor validates it).
 * @throws Error naming config.json for a config the model refuses (ConfigError).
 */
export function buildFromDir<M>(dir: string, build: () => M): M {
  try {
    return build();
  } catch (e) {
    if (e instanceof ConfigError) throw naming(join(dir, 'config.json'), e);
    throw e;
  }
}

/**
 * Read a tokenizer file of a model directory.
 * @throws Error naming the file.
 */
export function loadDirTokenizer(path: string): Tokenizer {
  try {
    return loadTokenizer(path);
  } catch (e) {
    throw naming(path, e);
  }
}

/**
 * Load weights and tokenizer into a freshly built model.
 * @throws Error naming model.safetensors or tokenizer.json when either is missing or bad.
 */
export function loadModelDirInto(dir: string, model: Module): Tokenizer {
  const path = join(dir, 'model.safetensors');
  try {
    loadModel(model, path);
  } catch (e) {
    throw naming(path, e);
  }
  return loadDirTokenizer(join(dir, 'tokenizer.json'));
}
