/**
 * One-call loading of a model directory (config.json, model.safetensors, tokenizer.json):
 * `load(dir)` reads the task from config.json and returns a Translator, LanguageModel or
 * Classifier, each with its model, tokenizer(s) and one convenience method. Everything is
 * synchronous, as loadModel and loadTokenizer are.
 *
 *   import { load } from 'transformer-ts';
 *   const m = load('runs/translate');
 *   if (m.task === 'translate') console.log(m.translate(['ein Haus']));
 */
import { readModelDirConfig } from './modeldir.js';
import { loadTranslator, type Translator } from './translate.js';
import { loadLanguageModel, type LanguageModel } from './lm.js';
import {
  isBaselineDir,
  loadBaselineClassifier,
  loadClassifier,
  type Classifier,
} from './classify.js';
import type { BaselineClassifier } from './baseline.js';

/** What `load` returns: discriminated by `task`. */
export type LoadedModel = Translator | LanguageModel | Classifier | BaselineClassifier;
/** A loaded Transformer-family model (not a classical baseline): what serve and pipeline run. */
export type NeuralModel = Translator | LanguageModel | Classifier;

/**
 * Load any model directory written by `transformer train`.
 * @throws Error naming the directory or the bad file (config.json, model.safetensors,
 *   tokenizer.json).
 */
export function load(dir: string): LoadedModel {
  const cfg = readModelDirConfig(dir);
  if (cfg.task === 'translate') return loadTranslator(dir);
  if (cfg.task === 'lm') return loadLanguageModel(dir); // refuses a MaskedLM, naming --init
  return isBaselineDir(cfg) ? loadBaselineClassifier(dir) : loadClassifier(dir);
}

/**
 * Load a model directory that holds a neural model (serve, pipeline, attention maps).
 * @throws Error naming the directory when it holds a classical baseline (--arch tfidf-logreg
 *   or bow-nb: no attention, no tokenizer), or as load.
 */
export function loadNeural(dir: string): NeuralModel {
  const m = load(dir);
  if (!('model' in m))
    throw new Error(
      `${dir}: a ${readModelDirConfig(dir).model} baseline (a classical classifier: no attention, no tokenizer); this needs a Transformer model directory`,
    );
  return m;
}
