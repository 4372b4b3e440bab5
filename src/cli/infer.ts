/**
 * Inference commands: translate, generate, classify, attention, and `eval`.
 */
import { noGrad } from '../autograd.js';
import { tensor, type Tensor } from '../tensor.js';
import type { MultiheadAttention } from '../nn/attention.js';
import type { Module } from '../nn/module.js';
import { encodeChecked, type Tokenizer } from '../tokenizers/index.js';
import {
  attentionFigureSvg,
  attentionMapsFromTensor,
  writeFigure,
  type AttentionSection,
} from '../viz/index.js';
import { accuracy, corpusBleu } from '../metrics/index.js';
import { readModelDirConfig } from '../tasks/modeldir.js';
import { evalLM, generateText, loadLM } from '../tasks/lm.js';
import { loadTranslator, translateIds, translateTexts } from '../tasks/translate.js';
import { classifyTexts, classifyTextsEarlyExit, loadClassifier } from '../tasks/classify.js';
import { loadTaskData, type SplitData } from '../tasks/data.js';
import {
  BUILTIN_DATASETS,
  clipWithWarning,
  readText,
  resolveDataset,
  type KeepSide,
} from '../data/index.js';
import { output } from './output.js';
import { RNNSeq2Seq } from '../rnn/seq2seq.js';

type Kind = 'translate' | 'generate' | 'classify' | 'attention';

/** Print a warning line to stderr. */
function warn(message: string): void {
  process.stderr.write(`warning: ${message}\n`);
}

/** Run one of the inference commands and print its output. */
export async function runInfer(
  kind: Kind,
  dir: string,
  lines: string[],
  o: Record<string, unknown>,
): Promise<void> {
  if (kind === 'translate') {
    const out = translateTexts(dir, lines, {
      beam: o.beam as number,
      maxLen: o.maxLen as number,
      lengthPenalty: o.lengthPenalty as number,
      onWarning: warn,
    });
    output.out(out.join('\n') + '\n');
  } else if (kind === 'generate') {
    const opts = {
      ...(o as {
        maxTokens: number;
        temperature: number;
        topK: number;
        topP: number;
        seed: number;
      }),
      onWarning: warn,
    };
    if (o.stream) {
      // The prompt, then each piece of text as its tokens come: the same text as without --stream.
      const pieces = loadLM(dir).generateStream(lines[0], opts);
      output.out(lines[0]);
      for await (const piece of pieces) output.out(piece);
      output.out('\n');
      return;
    }
    output.out(generateText(dir, lines[0], opts) + '\n');
  } else if (kind === 'classify') {
    const { model, tokenizer, labels } = loadClassifier(dir);
    const exit = o as { exitThreshold?: number; patience?: number };
    if (exit.exitThreshold !== undefined || exit.patience !== undefined) {
      const r = classifyTextsEarlyExit(model, tokenizer, labels, lines, {
        threshold: exit.exitThreshold ?? Infinity,
        patience: exit.patience,
      });
      for (const p of r.predictions)
        output.out(`${p.label}\t${p.probability.toFixed(4)}\tlayers ${p.layersRun}\n`);
      output.err(`mean layers run: ${r.meanLayers.toFixed(2)} of ${model.config.numLayers}\n`);
      return;
    }
    for (const r of classifyTexts(model, tokenizer, labels, lines, { onWarning: warn }))
      output.out(`${r.label}\t${r.probability.toFixed(4)}\n`);
  } else {
    await drawAttention(dir, lines[0], o.out as string, o.target as string | undefined);
  }
}

/** The one sequence of `seqs` cut to `maxLen`, with a warning if it was cut. */
function clipped(seqs: number[][], maxLen: number, keep: KeepSide): number[] {
  return clipWithWarning(seqs, maxLen, keep, warn)[0];
}

/** Tokens as displayed on the axes: each id decoded on its own. */
function tokenLabels(tok: Tokenizer, ids: number[]): string[] {
  return ids.map((id) => {
    const s = tok.decode([id]);
    return s === '' ? (tok.idToToken(id) ?? `#${id}`) : s.replace(/\n/g, '\\n');
  });
}

/** Turn on weight capture in every attention module under `m`, keyed by path. */
function captureAll(m: Module): Map<string, MultiheadAttention> {
  const out = new Map<string, MultiheadAttention>();
  for (const [name, sub] of m.namedModules()) {
    if ('captureWeights' in sub && 'lastWeights' in sub) {
      const mha = sub as unknown as MultiheadAttention;
      mha.captureWeights = true;
      out.set(name, mha);
    }
  }
  return out;
}

function section(
  name: string,
  rows: string[],
  cols: string[],
  modules: [string, MultiheadAttention][],
): AttentionSection {
  const maps = modules.flatMap(([, m], i) =>
    attentionMapsFromTensor(m.lastWeights as Tensor, { titlePrefix: `layer ${i + 1}` }),
  );
  return {
    name,
    rowTokens: rows,
    colTokens: cols,
    maps,
    columns: Math.min(maps.length / Math.max(modules.length, 1), 8),
  };
}

/**
 * The alignment of an RNN encoder-decoder with attention (Bahdanau et al. 2015, Fig. 3):
 * rows = target tokens (decoder inputs, from bos), cols = source tokens, row t the weights
 * the decoder used at step t (RNNSeq2Seq.recordAlignment).
 * @throws Error naming the directory when the model has no attention (--arch rnn).
 */
export function rnnAlignmentSection(
  model: RNNSeq2Seq,
  src: number[],
  tgt: number[],
  tgtTok: string[],
  srcTok: string[],
  dir: string,
): AttentionSection {
  const kind = model.config.attention;
  if (kind === 'none')
    throw new Error(
      `--model: '${dir}' is an RNN encoder-decoder without attention (--arch rnn): it has no alignment to draw`,
    );
  model.recordAlignment = true;
  model.alignments = [];
  try {
    noGrad(() =>
      model.forward(tensor([src], undefined, 'int32'), tensor([tgt], undefined, 'int32')),
    );
    const S = src.length;
    const weights = new Float32Array(tgt.length * S);
    model.alignments.forEach((w, t) => weights.set(w.f32.subarray(0, S), t * S)); // (1, S) each
    const local = model.config.window ? `, local-p D = ${model.config.window}` : '';
    return {
      name: `${kind} alignment (target x source${local})`,
      rowTokens: tgtTok,
      colTokens: srcTok,
      maps: [{ title: `${kind} alignment`, weights, rows: tgt.length, cols: S }],
    };
  } finally {
    model.recordAlignment = false;
    model.alignments = [];
  }
}

async function drawAttention(
  dir: string,
  text: string,
  out: string,
  target?: string,
): Promise<void> {
  const cfg = readModelDirConfig(dir);
  const sections: AttentionSection[] = [];
  if (cfg.task === 'translate') {
    const { model, vocabs } = loadTranslator(dir);
    const src = clipped([vocabs.src.encode(text)], model.config.maxLen - 1, 'start');
    if (src.length === 0) throw new Error('--text: the text is empty (it encodes to no tokens)');
    const tgtText = target ?? translateIds(model, vocabs, [src], { beam: 1, maxLen: 64 })[0];
    const tgtIds = clipped([vocabs.tgt.encode(tgtText)], model.config.maxLen - 1, 'start');
    const tgt = [vocabs.tgt.bosId, ...tgtIds];
    if (model instanceof RNNSeq2Seq) {
      const labels = [tokenLabels(vocabs.tgt, tgt), tokenLabels(vocabs.src, src)] as const;
      sections.push(rnnAlignmentSection(model, src, tgt, ...labels, dir));
      writeFigure(out, attentionFigureSvg(sections, { title: `Alignment of ${dir}` }));
      output.err(`wrote ${out}\n`);
      return;
    }
    const caps = [...captureAll(model)];
    noGrad(() =>
      model.forward(tensor([src], undefined, 'int32'), tensor([tgt], undefined, 'int32')),
    );
    const srcTok = tokenLabels(vocabs.src, src);
    const tgtTok = tokenLabels(vocabs.tgt, tgt);
    sections.push(
      section(
        'encoder self-attention',
        srcTok,
        srcTok,
        caps.filter(([n]) => n.includes('encoder.') && n.endsWith('self_attn')),
      ),
    );
    sections.push(
      section(
        'decoder self-attention (causal)',
        tgtTok,
        tgtTok,
        caps.filter(([n]) => n.includes('decoder.') && n.endsWith('self_attn')),
      ),
    );
    sections.push(
      section(
        'decoder cross-attention (target x source)',
        tgtTok,
        srcTok,
        caps.filter(([n]) => n.endsWith('multihead_attn')),
      ),
    );
  } else if (cfg.task === 'lm') {
    const { model, tokenizer } = loadLM(dir);
    const checked = encodeChecked(tokenizer, text, '--text');
    if (checked.warning !== null) warn(checked.warning);
    const ids = clipped([checked.ids], model.config.blockSize, 'end');
    if (ids.length === 0) throw new Error('--text: the text is empty (it encodes to no tokens)');
    const caps = [...captureAll(model)];
    noGrad(() => model.forward(tensor([ids], undefined, 'int32')));
    const toks = tokenLabels(tokenizer, ids);
    sections.push(section('causal self-attention', toks, toks, caps));
  } else {
    const { model, tokenizer } = loadClassifier(dir);
    const enc = tokenizer.encode(text);
    if (enc.length === 0) throw new Error('--text: the text is empty (it encodes to no tokens)');
    const ids = [tokenizer.bosId, ...clipped([enc], model.config.maxLen - 1, 'start')];
    const caps = [...captureAll(model)];
    noGrad(() => model.forward(tensor([ids], undefined, 'int32')));
    const toks = tokenLabels(tokenizer, ids);
    sections.push(section('encoder self-attention', toks, toks, caps));
  }
  writeFigure(out, attentionFigureSvg(sections, { title: `Attention of ${dir}` }));
  output.err(`wrote ${out}\n`);
}

export interface EvalOptions {
  model: string;
  data: string;
  beam: number;
  limit?: number;
  json?: boolean;
  /** Which part of the data: default 'test' for a built-in data set, 'all' for a file. */
  split?: 'test' | 'valid' | 'train' | 'all';
}

/** The examples of a split (train's deterministic split, or the whole data set). */
function pick<T>(
  task: 'translate' | 'classify',
  data: string,
  split: 'test' | 'valid' | 'train' | 'all',
): T[] {
  if (split === 'all') return resolveDataset(data, task) as T[];
  const parts = loadTaskData(task as 'translate', data) as unknown as SplitData<T>;
  return parts[split];
}

/**
 * `transformer eval`: BLEU (translate), loss/perplexity (lm), accuracy (classify) on the
 * chosen split: a built-in data set is scored on its held-out test split (lm: the last 10%,
 * the part training validates on), a file as a whole, unless --split says otherwise.
 */
export async function runEval(o: EvalOptions): Promise<void> {
  const cfg = readModelDirConfig(o.model);
  const split = o.split ?? (o.data in BUILTIN_DATASETS ? 'test' : 'all');
  let result: Record<string, number | string>;
  if (cfg.task === 'lm') {
    const { text: source } = loadTaskData('lm', o.data);
    let text = source;
    if (split !== 'all') {
      const all = typeof source === 'string' ? source : readText(source.path);
      const cut = Math.floor(all.length * 0.9); // nanoGPT's split, as in training
      text = split === 'train' ? all.slice(0, cut) : all.slice(cut);
    }
    const r = evalLM(o.model, text);
    result = { task: 'lm', split, loss: r.loss, perplexity: r.perplexity, tokens: r.tokens };
  } else if (cfg.task === 'translate') {
    const pairs = pick<{ source: string; target: string }>('translate', o.data, split);
    const chosen = pairs.slice(0, o.limit ?? pairs.length);
    const hyps = translateTexts(
      o.model,
      chosen.map((p) => p.source),
      { beam: o.beam, maxLen: 100, onWarning: warn },
    );
    const bleu = corpusBleu(hyps, [chosen.map((p) => p.target)]);
    result = {
      task: 'translate',
      split,
      bleu: bleu.score,
      sentences: chosen.length,
      beam: o.beam,
      signature: bleu.format(),
    };
  } else {
    const all = pick<{ text: string; label: string }>('classify', o.data, split);
    const exs = all.slice(0, o.limit ?? all.length);
    const { model, tokenizer, labels } = loadClassifier(o.model);
    const preds = classifyTexts(
      model,
      tokenizer,
      labels,
      exs.map((e) => e.text),
      { onWarning: warn },
    );
    const id = new Map(labels.map((l, i) => [l, i]));
    const gold = exs.map((e) => id.get(e.label) ?? -1); // an unseen label counts as wrong
    result = {
      task: 'classify',
      split,
      accuracy: accuracy(
        preds.map((p) => id.get(p.label)!),
        gold,
      ),
      examples: exs.length,
    };
  }
  if (o.json) output.out(JSON.stringify(result) + '\n');
  else
    for (const [k, v] of Object.entries(result))
      output.out(`${k}: ${typeof v === 'number' ? +v.toFixed(4) : v}\n`);
}
