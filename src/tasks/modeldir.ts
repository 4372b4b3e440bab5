/**
 * A model directory, as Hugging Face users expect: config.json (task, model class, model
 * config, task extras), model.safetensors (PyTorch state-dict names), tokenizer.json
 * (Hugging Face format), plus metrics.jsonl and loss.svg from training.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Module } from '../nn/module.js';
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

/** Save config.json, model.safetensors and tokenizer.json into `dir`. */
export async function saveModelDir(
  dir: string,
  cfg: ModelDirConfig,
  model: Module,
  tok: Tokenizer,
): Promise<void> {
  writeJsonAtomic(join(dir, 'config.json'), { version: '0.1.0', ...cfg });
  saveModel(model, join(dir, 'model.safetensors'), { task: cfg.task, model: cfg.model });
  await saveTokenizer(tok, join(dir, 'tokenizer.json'));
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
  const cfg = JSON.parse(readFileSync(path, 'utf8')) as ModelDirConfig;
  const wanted = want === undefined ? [] : Array.isArray(want) ? want : [want];
  if (wanted.length && !wanted.includes(cfg.task)) {
    throw new Error(
      `--model: '${dir}' holds a '${cfg.task}' model; this command needs ${wanted.map((w) => `'${w}'`).join(' or ')}`,
    );
  }
  return cfg;
}

/** Load weights and tokenizer into a freshly built model. */
export async function loadModelDirInto(dir: string, model: Module): Promise<Tokenizer> {
  loadModel(model, join(dir, 'model.safetensors'));
  return loadTokenizer(join(dir, 'tokenizer.json'));
}
