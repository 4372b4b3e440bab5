/**
 * The library in the page (the `serve` page's "in this browser" mode): this module is
 * bundled by esbuild (src/serve/bundle.ts) with the js backend, and runs a model directory's
 * files, fetched from the server as static files, entirely in the browser: translation and
 * generation streamed token by token, classification, and the attention maps, with the same
 * code the server runs (makeTranslator, makeLanguageModel, makeClassifier, attentionSections).
 *
 * Models built here: Seq2SeqTransformer, DecoderLM and EncoderClassifier (the RNN
 * encoder-decoders, Transformer-XL and the hierarchical classifier are refused by name).
 */
import { parseSafetensors, toFloat32 } from '../../io/safetensors.js';
import { tokenizerFromJSON } from '../../tokenizers/json.js';
import { Seq2SeqTransformer, type Seq2SeqConfig } from '../../models/seq2seq.js';
import { DecoderLM, type DecoderLMConfig } from '../../models/decoder-lm.js';
import { EncoderClassifier, type EncoderClassifierConfig } from '../../models/classifier.js';
import { makeTranslator } from '../../tasks/translate.js';
import { makeLanguageModel } from '../../tasks/lm.js';
import { classProbabilities, makeClassifier, type Classifier } from '../../tasks/classify.js';
import type { NeuralModel } from '../../tasks/load.js';
import { attentionSections } from '../../tasks/attention-maps.js';
import {
  attentionPayload,
  prediction,
  type AttentionPayload,
  type Prediction,
} from '../payload.js';
import { backend } from '../../backend/index.js';

/** config.json of a model directory (tasks/modeldir.ts). */
interface DirConfig {
  task: NeuralModel['task'];
  model: string;
  config: Record<string, unknown>;
  labels?: string[];
}

/** The body of `url` (JSON or bytes); null for a 404 when `optional`. */
async function get(url: string, kind: 'json' | 'bytes', optional = false): Promise<unknown> {
  const r = await fetch(url);
  if (optional && r.status === 404) return null;
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return kind === 'json' ? r.json() : new Uint8Array(await r.arrayBuffer());
}

/**
 * Fetch a model directory's files from `base` (config.json, model.safetensors,
 * tokenizer.json, and tokenizer_target.json when the vocabularies are separate) and build the
 * model with its weights on the js backend.
 * @throws Error naming the file that is missing or bad, or the model class not built here.
 */
export async function loadModelFrom(base: string): Promise<NeuralModel> {
  const cfg = (await get(`${base}config.json`, 'json')) as DirConfig;
  const bytes = (await get(`${base}model.safetensors`, 'bytes')) as Uint8Array;
  const tokenizer = tokenizerFromJSON(await get(`${base}tokenizer.json`, 'json'));
  const build = (): Seq2SeqTransformer | DecoderLM | EncoderClassifier => {
    const c = cfg.config as unknown;
    if (cfg.model === 'Seq2SeqTransformer') return new Seq2SeqTransformer(c as Seq2SeqConfig);
    if (cfg.model === 'DecoderLM') return new DecoderLM(c as DecoderLMConfig);
    if (cfg.model === 'EncoderClassifier')
      return new EncoderClassifier(c as EncoderClassifierConfig);
    throw new Error(`${base}config.json: a ${cfg.model} does not run in the browser yet`);
  };
  const model = build();
  const sd = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, t] of parseSafetensors(bytes).tensors)
    sd.set(name, { shape: t.shape, data: toFloat32(t) });
  model.loadStateDict(sd, true);
  if (model instanceof Seq2SeqTransformer) {
    const target = await get(`${base}tokenizer_target.json`, 'json', true);
    const tgt = target === null ? tokenizer : tokenizerFromJSON(target);
    return makeTranslator(model, { src: tokenizer, tgt });
  }
  if (model instanceof DecoderLM) return makeLanguageModel(model, tokenizer);
  return makeClassifier(model, tokenizer, cfg.labels ?? []);
}

/** What POST /api/attention answers, computed here. */
export function attention(m: NeuralModel, text: string, target?: string): AttentionPayload {
  const warnings: string[] = [];
  const sections = attentionSections(m, text, { target, onWarning: (w) => warnings.push(w) });
  return { ...attentionPayload(m, sections), warnings } as AttentionPayload;
}

/** What POST /api/classify answers for one text, computed here. */
export function classify(m: Classifier, text: string): Prediction {
  return prediction(m.labels, classProbabilities(m.model, m.tokenizer, [text])[0]);
}

/** The backend the page computes on ('js'). */
export const backendName = (): string => backend().name;
