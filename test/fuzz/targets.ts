/**
 * The three file readers the fuzz drives, each with the valid files it starts from: the
 * safetensors reader (the PyTorch reference fixture, a model saved by saveModel, a file of
 * every dtype), the tokenizer.json reader (the Hugging Face fixtures, tokenizers saved by
 * the library) and the model directory reader (config.json of an lm, a classifier and a
 * translator directory written by saveModelDir). A target says which failures are right:
 * an Error of the reader's own kind whose message names the file, never a RangeError,
 * TypeError or SyntaxError from inside.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  SafetensorsError,
  fromBool,
  fromFloat32,
  fromInt32,
  readSafetensors,
  serializeSafetensors,
  toBool,
  toFloat32,
} from '../../src/io/safetensors.js';
import { loadModel, saveModel } from '../../src/io/checkpoint.js';
import { DecoderLM } from '../../src/models/decoder-lm.js';
import { EncoderClassifier } from '../../src/models/classifier.js';
import { Seq2SeqTransformer } from '../../src/models/seq2seq.js';
import { estimateParameters } from '../../src/models/config.js';
import { Generator } from '../../src/random.js';
import {
  loadTokenizer,
  saveTokenizer,
  trainBPE,
  trainCharTokenizer,
} from '../../src/tokenizers/index.js';
import { readModelDirConfig, saveModelDir } from '../../src/tasks/modeldir.js';
import { loadLM } from '../../src/tasks/lm.js';
import { loadClassifier } from '../../src/tasks/classify.js';
import { loadTranslator } from '../../src/tasks/translate.js';
import { JSON_FILE_MUTATIONS, SAFETENSORS_MUTATIONS, type Mutation } from './mutate.js';

/** One valid file: where a case writes its mutation, and how the library reads it. */
export interface FuzzSeed {
  bytes: Uint8Array;
  path: string;
  read: () => Promise<void>;
}

/** A reader under fuzz. */
export interface FuzzTarget {
  name: string;
  seeds: FuzzSeed[];
  mutations: readonly Mutation[];
  /** Whether `e`, thrown while reading `path`, is a right failure; else what is wrong. */
  check: (e: unknown, path: string) => string | null;
}

export const TARGET_NAMES = ['safetensors', 'tokenizer', 'config'] as const;

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const TEXT = 'to be or not to be, that is the question: whether tis nobler in the mind. ';
/** Error classes that mean a reader crashed inside instead of refusing the file. */
const CRASHES = [RangeError, TypeError, SyntaxError, ReferenceError, EvalError, URIError];

/** A plain refusal naming the file: an Error, not a crash class, its message holding `name`. */
export function namesFile(e: unknown, name: string): string | null {
  if (!(e instanceof Error)) return `threw a non-Error: ${String(e)}`;
  if (CRASHES.some((C) => e instanceof C)) return `crashed with ${e.name}: ${e.message}`;
  if (!e.message.includes(name)) return `${e.name} does not name ${name}: ${e.message}`;
  return null;
}

const tinyLM = (vocabSize: number): DecoderLM =>
  new DecoderLM(
    { vocabSize, blockSize: 8, dModel: 8, nhead: 2, numLayers: 1, dimFeedforward: 16 },
    new Generator(1),
  );

async function safetensorsTarget(dir: string): Promise<FuzzTarget> {
  const path = join(dir, 'fuzz.safetensors');
  const model = tinyLM(12);
  saveModel(model, path, { task: 'lm' });
  const saved = readFileSync(path);
  const every = serializeSafetensors(
    {
      f32: fromFloat32(Float32Array.from([1, -2, 0.5, 3]), [2, 2]),
      f16: fromFloat32(Float32Array.from([1, 2, 3]), [3], 'F16'),
      bf16: fromFloat32(Float32Array.from([1]), [], 'BF16'),
      i64: fromInt32(Int32Array.from([1, -1]), [2], 'I64'),
      u8: fromInt32(Int32Array.from([7]), [1, 1], 'U8'),
      b: fromBool([true, false], [2]),
      empty: fromFloat32(new Float32Array(0), [0, 3]),
    },
    { format: 'pt', note: 'fuzz' },
  );
  const read = async (): Promise<void> => {
    const { tensors } = readSafetensors(path);
    for (const t of tensors.values()) {
      // Conversions of a parsed tensor never fail: float widening, nonzero test.
      if (t.dtype.startsWith('F') || t.dtype === 'BF16') toFloat32(t);
      else toBool(t);
    }
  };
  const load = async (): Promise<void> => {
    await read();
    loadModel(model, path);
  };
  const reference = readFileSync(join(FIXTURES, 'io/reference.safetensors'));
  return {
    name: 'safetensors',
    seeds: [
      { bytes: saved, path, read: load },
      { bytes: every, path, read },
      { bytes: reference, path, read },
    ],
    mutations: SAFETENSORS_MUTATIONS,
    check: (e, p) =>
      e instanceof SafetensorsError || (e instanceof Error && e.message.startsWith('loadModel: '))
        ? namesFile(e, p)
        : `not a SafetensorsError: ${String(e)}`,
  };
}

async function tokenizerTarget(dir: string): Promise<FuzzTarget> {
  const path = join(dir, 'tokenizer.json');
  await saveTokenizer(trainCharTokenizer([TEXT]), path);
  const char = readFileSync(path);
  await saveTokenizer(trainBPE([TEXT.repeat(4)], { vocabSize: 300 }), path);
  const bpe = readFileSync(path);
  const fixtures = ['hf_wordlevel.json', 'gpt2_style.json', 'hf_bpe_bytelevel.json'].map((f) =>
    readFileSync(join(FIXTURES, 'tokenizers', f)),
  );
  const read = async (): Promise<void> => {
    const tok = await loadTokenizer(path);
    tok.decode(tok.encode('Hello, wörld! 123 to be \u{1F600}'));
  };
  return {
    name: 'tokenizer',
    seeds: [char, bpe, ...fixtures].map((bytes) => ({ bytes, path, read })),
    mutations: JSON_FILE_MUTATIONS,
    check: namesFile,
  };
}

/** Models at most this large are built and loaded; larger valid configs are only validated. */
const BUILD_LIMIT = 100_000;

async function configTarget(dir: string): Promise<FuzzTarget> {
  const chars = trainCharTokenizer([TEXT]);
  const V = chars.vocabSize;
  const block = { dModel: 8, nhead: 2, dimFeedforward: 16 };
  const dirs = {
    lm: { config: { vocabSize: V, blockSize: 8, numLayers: 1, ...block } },
    classify: {
      config: { vocabSize: V, numClasses: 2, numLayers: 1, maxLen: 16, ...block },
      labels: ['neg', 'pos'],
    },
    translate: {
      config: {
        srcVocabSize: V,
        tgtVocabSize: V,
        numEncoderLayers: 1,
        numDecoderLayers: 1,
        maxLen: 16,
        ...block,
      },
    },
  };
  const seeds: FuzzSeed[] = [];
  for (const [task, cfg] of Object.entries(dirs)) {
    const d = join(dir, task);
    mkdirSync(d, { recursive: true });
    const model =
      task === 'lm'
        ? new DecoderLM(dirs.lm.config)
        : task === 'classify'
          ? new EncoderClassifier(dirs.classify.config)
          : new Seq2SeqTransformer(dirs.translate.config);
    const dirConfig = { task, model: model.constructor.name, ...cfg } as Parameters<
      typeof saveModelDir
    >[1];
    await saveModelDir(d, dirConfig, model, chars);
    const path = join(d, 'config.json');
    const read = async (): Promise<void> => {
      const c = readModelDirConfig(d);
      const kind = c.task === 'translate' ? 'seq2seq' : c.task === 'classify' ? 'classifier' : 'lm';
      if (estimateParameters(kind, c.config) > BUILD_LIMIT) return;
      if (c.task === 'lm') await loadLM(d);
      else if (c.task === 'classify') await loadClassifier(d);
      else await loadTranslator(d);
    };
    seeds.push({ bytes: readFileSync(path), path, read });
  }
  return {
    name: 'config',
    seeds,
    mutations: JSON_FILE_MUTATIONS,
    // The directory is named (config.json, or model.safetensors when the config does not fit).
    check: (e, p) => namesFile(e, p.slice(0, -'/config.json'.length)),
  };
}

/** The targets, their seed files written under `dir` (created). */
export async function makeTargets(dir: string, names: readonly string[]): Promise<FuzzTarget[]> {
  mkdirSync(dir, { recursive: true });
  const makers: Record<string, (d: string) => Promise<FuzzTarget>> = {
    safetensors: safetensorsTarget,
    tokenizer: tokenizerTarget,
    config: configTarget,
  };
  const out: FuzzTarget[] = [];
  for (const name of names) {
    if (!makers[name])
      throw new Error(`fuzz: unknown target '${name}' (known: ${TARGET_NAMES.join(', ')})`);
    const sub = join(dir, name);
    mkdirSync(sub, { recursive: true });
    out.push(await makers[name](sub));
  }
  return out;
}

/** Write a case's bytes where its seed's reader looks. */
export function writeCase(seed: FuzzSeed, bytes: Uint8Array): void {
  writeFileSync(seed.path, bytes);
}
