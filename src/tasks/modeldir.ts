/**
 * A model directory, as Hugging Face users expect: config.json (task, model class, model
 * config, task extras), model.safetensors (PyTorch state-dict names), tokenizer.json
 * (Hugging Face format), plus metrics.jsonl and loss.svg from training.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Module } from '../nn/module.js';
import { ConfigError } from '../models/config.js';
import { loadModel, saveModel } from '../io/checkpoint.js';
import { loadTokenizer, saveTokenizer, type Tokenizer } from '../tokenizers/index.js';

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
}

/** Write config.json atomically (temp file, then rename). */
function writeJsonAtomic(path: string, obj: unknown): void {
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

const TASKS: readonly TaskName[] = ['lm', 'translate', 'classify'];

/** Prefix `path: ` to an error's message unless it already names the file. */
function naming(path: string, e: unknown): Error {
  const msg = (e as Error).message ?? String(e);
  return new Error(msg.includes(path) ? msg : `${path}: ${msg}`, { cause: e });
}

/**
 * Read config.json of a model directory and check its task.
 * @throws Error naming the directory when it is not a model directory or holds another task.
 */
export function readModelDirConfig(dir: string, want?: TaskName | TaskName[]): ModelDirConfig {
  const path = join(dir, 'config.json');
  if (!existsSync(path))
    throw new Error(
      `--model: '${dir}' has no config.json (is it a model directory written by 'transformer train'?)`,
    );
  let cfg: ModelDirConfig;
  try {
    cfg = JSON.parse(readFileSync(path, 'utf8')) as ModelDirConfig;
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
  if (typeof cfg !== 'object' || cfg === null || !TASKS.includes(cfg.task))
    throw new Error(
      `${path}: 'task' must be one of ${TASKS.join(', ')}, got ${JSON.stringify((cfg as { task?: unknown } | null)?.task)}`,
    );
  if (typeof cfg.config !== 'object' || cfg.config === null || Array.isArray(cfg.config))
    throw new Error(`${path}: 'config' must be an object (the model's config)`);
  const wanted = want === undefined ? [] : Array.isArray(want) ? want : [want];
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
