/**
 * `pipeline(task, dir)`: the one-call API of transformers.js (and of Hugging Face's Python
 * `pipeline`) over a model directory written by `transformer train`:
 *
 *   const translator = await pipeline('translation', 'runs/de-en');
 *   await translator('Ich habe eine Frage.');   // [{ translation_text: '...' }]
 *   const generator = await pipeline('text-generation', 'runs/lm');
 *   await generator('ROMEO:', { max_new_tokens: 50 });   // [{ generated_text: 'ROMEO:...' }]
 *   const classifier = await pipeline('text-classification', 'runs/spam');
 *   await classifier('win a free prize now');   // [{ label: 'spam', score: 0.97 }]
 *
 * Inputs, option names and output shapes are transformers.js's (pipelines/translation.js,
 * text-generation.js, text-classification.js); the computation is the library's own
 * (Translator.translate, LanguageModel.generate, classProbabilities), so a pipeline gives what
 * `transformer translate | generate | classify` print for the same decoding options.
 * Defaults follow transformers.js where a model has no generation_config.json: greedy
 * decoding (do_sample false, num_beams 1), which the CLI's defaults (beam 4, temperature 0.8)
 * are not.
 */
import { loadNeural, type NeuralModel } from './tasks/load.js';
import type { Translator } from './tasks/translate.js';
import type { LanguageModel } from './tasks/lm.js';
import { classProbabilities, type Classifier } from './tasks/classify.js';

/** The tasks, by transformers.js's names ('sentiment-analysis' is its alias of classification). */
export type PipelineTask =
  'translation' | 'text-generation' | 'text-classification' | 'sentiment-analysis';

/** Which model-directory task each pipeline task needs. */
const DIR_TASK: Record<PipelineTask, NeuralModel['task']> = {
  translation: 'translate',
  'text-generation': 'lm',
  'text-classification': 'classify',
  'sentiment-analysis': 'classify',
};

/** Generation options (transformers.js's GenerationConfig names). */
export interface GenerationOptions {
  /** New tokens at most. Default 100. */
  max_new_tokens?: number;
  /** Sample (true) or take the most likely token (false, default). text-generation only. */
  do_sample?: boolean;
  /** Sampling temperature when do_sample. Default 1. */
  temperature?: number;
  /** Keep the k most likely tokens when do_sample (0 = all). Default 50, as Hugging Face. */
  top_k?: number;
  /** Nucleus mass when do_sample. Default 1. */
  top_p?: number;
  /** Sampling seed (ours; transformers.js has none). Default 0. */
  seed?: number;
  /** Beam size (translation). Default 1. */
  num_beams?: number;
  /** GNMT length-penalty alpha of beam search (Wu et al. 2016, Eq. 14). Default 0.6. */
  length_penalty?: number;
  /** text-generation: the output starts with the prompt (default true). */
  return_full_text?: boolean;
}

/** text-classification options. */
export interface ClassificationOptions {
  /** The k best labels per text, best first. Default 1. */
  top_k?: number;
}

export type TranslationOutput = { translation_text: string }[];
export type TextGenerationOutput = { generated_text: string }[];
export type ClassificationOutput = { label: string; score: number }[];

/** A translation pipeline: one { translation_text } per input text (a flat array). */
export interface TranslationPipeline {
  (texts: string | string[], options?: GenerationOptions): Promise<TranslationOutput>;
  task: 'translation';
  model: Translator;
  dispose(): Promise<void>;
}

/** A text-generation pipeline: [{ generated_text }] for a string, one such array per text. */
export interface TextGenerationPipeline {
  (text: string, options?: GenerationOptions): Promise<TextGenerationOutput>;
  (texts: string[], options?: GenerationOptions): Promise<TextGenerationOutput[]>;
  task: 'text-generation';
  model: LanguageModel;
  dispose(): Promise<void>;
}

/**
 * A text-classification pipeline: with top_k 1, one { label, score } per text (a flat array,
 * also for a single string); with top_k > 1, the k best of a string, or one list per text.
 */
export interface TextClassificationPipeline {
  (
    texts: string | string[],
    options?: ClassificationOptions,
  ): Promise<ClassificationOutput | ClassificationOutput[]>;
  task: 'text-classification' | 'sentiment-analysis';
  model: Classifier;
  dispose(): Promise<void>;
}

export type Pipeline = TranslationPipeline | TextGenerationPipeline | TextClassificationPipeline;

/**
 * Load the model directory `dir` for `task` and return an async callable, as transformers.js's
 * `pipeline(task, model)` does (the loading is synchronous underneath; the promise is there
 * for the same call shape).
 * @throws Error (rejected promise) naming the task for an unknown one, or naming the
 *   directory when it holds another task's model or a bad file.
 */
export async function pipeline(task: 'translation', dir: string): Promise<TranslationPipeline>;
export async function pipeline(
  task: 'text-generation',
  dir: string,
): Promise<TextGenerationPipeline>;
export async function pipeline(
  task: 'text-classification' | 'sentiment-analysis',
  dir: string,
): Promise<TextClassificationPipeline>;
export async function pipeline(task: PipelineTask, dir: string): Promise<Pipeline>;
export async function pipeline(task: PipelineTask, dir: string): Promise<Pipeline> {
  const want = DIR_TASK[task];
  if (want === undefined)
    throw new Error(
      `pipeline: unknown task '${task}' (known: ${Object.keys(DIR_TASK).join(', ')})`,
    );
  const m = loadNeural(dir);
  if (m.task !== want)
    throw new Error(
      `pipeline: '${dir}' holds a '${m.task}' model; the '${task}' pipeline needs a '${want}' model`,
    );
  const dispose = async (): Promise<void> => {};
  if (m.task === 'translate') {
    const run = async (texts: string | string[], o: GenerationOptions = {}) =>
      m
        .translate(typeof texts === 'string' ? [texts] : texts, translateOptions(o))
        .map((translation_text) => ({ translation_text }));
    return Object.assign(run, { task: 'translation' as const, model: m, dispose });
  }
  if (m.task === 'lm') {
    const one = (text: string, o: GenerationOptions): TextGenerationOutput => {
      const full = m.generate(text, generateOptions(o));
      return [{ generated_text: o.return_full_text === false ? full.slice(text.length) : full }];
    };
    const run = async (texts: string | string[], o: GenerationOptions = {}) =>
      typeof texts === 'string' ? one(texts, o) : texts.map((t) => one(t, o));
    return Object.assign(run as TextGenerationPipeline, {
      task: 'text-generation' as const,
      model: m,
      dispose,
    });
  }
  const run = async (texts: string | string[], o: ClassificationOptions = {}) =>
    classify(m, texts, o.top_k ?? 1);
  return Object.assign(run, {
    task: task as 'text-classification' | 'sentiment-analysis',
    model: m,
    dispose,
  });
}

/** Translator.translate's options from transformers.js's (greedy unless num_beams > 1). */
export function translateOptions(o: GenerationOptions): {
  beam: number;
  maxLen: number;
  lengthPenalty: number;
} {
  return {
    beam: positiveInt(o.num_beams ?? 1, 'num_beams'),
    maxLen: positiveInt(o.max_new_tokens ?? 100, 'max_new_tokens'),
    lengthPenalty: o.length_penalty ?? 0.6,
  };
}

/** LanguageModel.generate's options from transformers.js's (temperature 0 = greedy). */
export function generateOptions(o: GenerationOptions): {
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
} {
  if (o.num_beams !== undefined && o.num_beams !== 1)
    throw new Error(
      `text-generation: num_beams must be 1 (no beam search here), got ${o.num_beams}`,
    );
  return {
    maxTokens: positiveInt(o.max_new_tokens ?? 100, 'max_new_tokens'),
    temperature: o.do_sample ? (o.temperature ?? 1) : 0,
    topK: o.top_k ?? 50,
    topP: o.top_p ?? 1,
    seed: o.seed ?? 0,
  };
}

/** The top_k labels of each text by softmax probability, shaped as transformers.js shapes them. */
function classify(
  m: Classifier,
  texts: string | string[],
  topK: number,
): ClassificationOutput | ClassificationOutput[] {
  const K = m.labels.length;
  const k = Math.min(positiveInt(topK, 'top_k'), K);
  const rows = classProbabilities(
    m.model,
    m.tokenizer,
    typeof texts === 'string' ? [texts] : texts,
  );
  const best = rows.map((p) =>
    Array.from({ length: K }, (_, i) => i)
      .sort((a, b) => p[b] - p[a] || a - b) // best first, the lower class on ties
      .slice(0, k)
      .map((i) => ({ label: m.labels[i], score: p[i] })),
  );
  if (k === 1) return best.map((b) => b[0]);
  return typeof texts === 'string' ? best[0] : best;
}

/** `v` if it is an integer >= 1. @throws Error naming the option otherwise. */
function positiveInt(v: number, name: string): number {
  if (!Number.isInteger(v) || v < 1)
    throw new Error(`pipeline: ${name} must be an integer >= 1, got ${v}`);
  return v;
}

/**
 * The text of a language model's continuation of `text`, or of a translator's translation of
 * it, as an async iterator of pieces handed out as the tokens are decoded
 * (LanguageModel.generateStream, Translator.translateStream). The pieces join to the
 * non-streamed text (for a language model, without the prompt).
 * @throws Error (at once) when the text encodes to no tokens.
 */
export function generateStream(
  m: LanguageModel | Translator,
  text: string,
  o: GenerationOptions = {},
): AsyncGenerator<string, void, undefined> {
  return m.task === 'lm'
    ? m.generateStream(text, generateOptions(o))
    : m.translateStream(text, translateOptions(o));
}
