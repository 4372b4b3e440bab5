/**
 * `transformer train --task lm` and `transformer generate`: a character-level GPT-style
 * language model on plain text (default: the bundled tinyshakespeare), nanoGPT's
 * shakespeare_char recipe. Writes DIR/config.json, model.safetensors, tokenizer.json and
 * metrics.jsonl.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SingleBar, Presets } from 'cli-progress';
import { noGrad } from '../autograd.js';
import { Generator } from '../random.js';
import { tensor } from '../tensor.js';
import * as F from '../ops/index.js';
import { DecoderLM, type DecoderLMConfig } from '../models/decoder-lm.js';
import { lmPresets } from '../models/presets.js';
import { AdamW, weightDecayGroups } from '../train/optim.js';
import { cosineSchedule } from '../train/schedule.js';
import { generate } from '../decode/generate.js';
import { loadModel, saveModel } from '../io/checkpoint.js';
import {
  loadTokenizer,
  saveTokenizer,
  trainCharTokenizer,
  type Tokenizer,
} from '../tokenizers/index.js';

const DATA_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../data');

/** Resolve a built-in data set name or a path to a text file. */
export function resolveTextData(nameOrPath: string): string {
  if (nameOrPath === 'tinyshakespeare') return join(DATA_DIR, 'tinyshakespeare.txt');
  if (!existsSync(nameOrPath))
    throw new Error(`--data: no such file '${nameOrPath}' (built-in text data: tinyshakespeare)`);
  return nameOrPath;
}

export interface TrainLMOptions {
  data: string;
  out: string;
  preset: string;
  steps: number;
  batchSize: number;
  lr: number;
  seed: number;
  evalEvery: number;
  evalBatches: number;
}

/** Train a character LM; returns the final validation loss. */
export async function trainLM(o: TrainLMOptions): Promise<number> {
  const preset = (lmPresets as Record<string, Omit<DecoderLMConfig, 'vocabSize'>>)[o.preset];
  if (!preset)
    throw new Error(
      `--preset: unknown LM preset '${o.preset}' (known: ${Object.keys(lmPresets).join(', ')})`,
    );
  const text = readFileSync(resolveTextData(o.data), 'utf8');
  const tok = trainCharTokenizer([text]);
  const ids = Int32Array.from(tok.encode(text));
  const split = Math.floor(ids.length * 0.9); // nanoGPT's 90/10 split
  const train = ids.subarray(0, split);
  const valid = ids.subarray(split);
  const config: DecoderLMConfig = { ...preset, vocabSize: tok.vocabSize };
  const gen = new Generator(o.seed);
  const lm = new DecoderLM(config, gen);
  const T = config.blockSize;
  const B = o.batchSize;
  const opt = new AdamW(weightDecayGroups(lm, 0.1), { lr: o.lr, betas: [0.9, 0.99] });
  const schedule = cosineSchedule(
    o.lr,
    Math.min(100, Math.floor(o.steps / 10)),
    o.steps + 1,
    o.lr / 10,
  );
  const batch = (src: Int32Array, g: Generator) => {
    const x = new Int32Array(B * T);
    const y = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      const s = g.randint(src.length - T - 1);
      x.set(src.subarray(s, s + T), b * T);
      y.set(src.subarray(s + 1, s + T + 1), b * T);
    }
    return { x: tensor(x, [B, T]), y: tensor(y, [B * T]) };
  };
  const evaluate = (): number => {
    const g = new Generator(o.seed + 1); // the same validation batches every time
    lm.eval();
    let total = 0;
    noGrad(() => {
      for (let i = 0; i < o.evalBatches; i++) {
        const { x, y } = batch(valid, g);
        total += F.crossEntropy(F.reshape(lm.forward(x), [-1, tok.vocabSize]), y).item();
      }
    });
    lm.train();
    return total / o.evalBatches;
  };
  mkdirSync(o.out, { recursive: true });
  const metrics = join(o.out, 'metrics.jsonl');
  writeFileSync(metrics, '');
  writeFileSync(
    join(o.out, 'config.json'),
    JSON.stringify({ task: 'lm', model: 'DecoderLM', ...config }, null, 2) + '\n',
  );
  await saveTokenizer(tok, join(o.out, 'tokenizer.json'));
  process.stderr.write(
    `DecoderLM ${lm.numParameters().toLocaleString()} parameters, vocabulary ${tok.vocabSize}, ${train.length.toLocaleString()} training characters\n`,
  );
  const bar = new SingleBar(
    {
      format:
        'train [{bar}] {value}/{total} steps | loss {loss} | lr {lr} | {tps} tok/s | eta {eta_formatted}',
      hideCursor: true,
      noTTYOutput: true,
      notTTYSchedule: 10000,
    },
    Presets.shades_classic,
  );
  bar.start(o.steps, 0, { loss: '-', lr: '-', tps: '-' });
  const t0 = Date.now();
  let validLoss = NaN;
  lm.train();
  for (let step = 1; step <= o.steps; step++) {
    opt.lr = schedule(step);
    const { x, y } = batch(train, gen);
    opt.zeroGrad();
    const loss = F.crossEntropy(F.reshape(lm.forward(x), [-1, tok.vocabSize]), y);
    loss.backward();
    opt.step();
    const record: Record<string, number> = {
      step,
      loss: loss.item(),
      lr: opt.lr,
      seconds: (Date.now() - t0) / 1000,
    };
    if (step % o.evalEvery === 0 || step === o.steps) record.valid_loss = validLoss = evaluate();
    appendFileSync(metrics, JSON.stringify(record) + '\n');
    const tps = Math.round((step * B * T) / Math.max((Date.now() - t0) / 1000, 1e-3));
    bar.update(step, { loss: record.loss.toFixed(3), lr: opt.lr.toExponential(2), tps });
  }
  bar.stop();
  saveModel(lm, join(o.out, 'model.safetensors'), { task: 'lm' });
  process.stderr.write(
    `validation loss ${validLoss.toFixed(4)} after ${o.steps} steps, ${((Date.now() - t0) / 1000).toFixed(1)} s; model in ${o.out}\n`,
  );
  return validLoss;
}

/** Load a model directory written by `trainLM`. */
export async function loadLM(dir: string): Promise<{ lm: DecoderLM; tok: Tokenizer }> {
  const cfgPath = join(dir, 'config.json');
  if (!existsSync(cfgPath))
    throw new Error(`--model: '${dir}' has no config.json (is it a model directory?)`);
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as DecoderLMConfig & { task?: string };
  if (cfg.task !== 'lm')
    throw new Error(`--model: '${dir}' holds a '${cfg.task}' model, not a language model`);
  const lm = new DecoderLM(cfg);
  loadModel(lm, join(dir, 'model.safetensors'));
  return { lm, tok: await loadTokenizer(join(dir, 'tokenizer.json')) };
}

/** Generate text from a trained LM. */
export async function generateText(
  dir: string,
  prompt: string,
  o: { maxTokens: number; temperature: number; topK: number; topP: number; seed: number },
): Promise<string> {
  const { lm, tok } = await loadLM(dir);
  const ids = tok.encode(prompt);
  if (ids.length === 0) throw new Error('--prompt: the prompt encodes to no tokens');
  const out = generate(lm, ids, {
    maxNewTokens: o.maxTokens,
    temperature: o.temperature,
    topK: o.topK,
    topP: o.topP,
    generator: new Generator(o.seed),
  });
  return prompt + tok.decode(out);
}
