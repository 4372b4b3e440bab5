/**
 * Inference commands: translate, generate, classify, attention, and `eval`.
 */
import { attentionFigureSvg, writeFigure } from '../viz/index.js';
import { accuracy, bleuByLength, corpusBleu } from '../metrics/index.js';
import { dataFingerprint, readModelDirConfig, type ModelDirConfig } from '../tasks/modeldir.js';
import { evalLM, generateText, loadLM } from '../tasks/lm.js';
import { DEFAULT_LENGTH_PENALTY, translateTexts } from '../tasks/translate.js';
import { classifyTextsEarlyExit, classifyWithDir, loadClassifier } from '../tasks/classify.js';
import { loadTaskData } from '../tasks/data.js';
import { loadNeural } from '../tasks/load.js';
import { attentionSections } from '../tasks/attention-maps.js';
import { BUILTIN_DATASETS, readText, resolveDataset, taskSplit } from '../data/index.js';
import { output } from './output.js';
import { runExposureBias } from './exposure.js';
import { RNNSeq2Seq } from '../rnn/seq2seq.js';

/** The RNN alignment section (moved to tasks/attention-maps.ts; re-exported for its tests). */
export { rnnAlignmentSection } from '../tasks/attention-maps.js';

type Kind = 'translate' | 'generate' | 'classify' | 'attention';

/** Print a warning line to stderr. */
function warn(message: string): void {
  output.err(`warning: ${message}\n`);
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
    const exit = o as { exitThreshold?: number; patience?: number };
    if (exit.exitThreshold !== undefined || exit.patience !== undefined) {
      const { model, tokenizer, labels } = loadClassifier(dir);
      const r = classifyTextsEarlyExit(model, tokenizer, labels, lines, {
        threshold: exit.exitThreshold ?? Infinity,
        patience: exit.patience,
      });
      for (const p of r.predictions)
        output.out(`${p.label}\t${p.probability.toFixed(4)}\tlayers ${p.layersRun}\n`);
      output.err(`mean layers run: ${r.meanLayers.toFixed(2)} of ${model.config.numLayers}\n`);
      return;
    }
    for (const r of classifyWithDir(dir, lines, { onWarning: warn }))
      output.out(`${r.label}\t${r.probability.toFixed(4)}\n`);
  } else {
    await drawAttention(dir, lines[0], o.out as string, o.target as string | undefined);
  }
}

async function drawAttention(
  dir: string,
  text: string,
  out: string,
  target?: string,
): Promise<void> {
  const m = loadNeural(dir);
  const sections = attentionSections(m, text, { target, onWarning: warn, dir });
  const rnn = m.task === 'translate' && m.model instanceof RNNSeq2Seq;
  writeFigure(
    out,
    attentionFigureSvg(sections, { title: `${rnn ? 'Alignment' : 'Attention'} of ${dir}` }),
  );
  output.err(`wrote ${out}\n`);
}

/** `bleu_<bucket>` and `sentences_<bucket>` for each source-length bucket (eval --by-length). */
function bucketFields(
  pairs: { source: string; target: string }[],
  hyps: string[],
): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const b of bleuByLength(
    pairs.map((p) => p.source),
    hyps,
    [pairs.map((p) => p.target)],
  )) {
    out[`bleu_${b.label}`] = b.bleu ? b.bleu.score : '-';
    out[`sentences_${b.label}`] = b.count;
  }
  return out;
}

export interface EvalOptions {
  model: string;
  /** translate: also corpus BLEU per source-length bucket (1-5, 6-10, 11-20, 21+ tokens). */
  byLength?: boolean;
  data: string;
  beam: number;
  /** translate: GNMT length penalty alpha for beam search (default DEFAULT_LENGTH_PENALTY). */
  lengthPenalty?: number;
  limit?: number;
  json?: boolean;
  /** Which part of the data: default 'test' for a built-in data set, 'all' for a file. */
  split?: 'test' | 'valid' | 'train' | 'all';
  /** translate: per-position teacher-forced vs free-running scores instead of BLEU. */
  exposureBias?: boolean;
}

/**
 * The examples of a split (train's deterministic split, or the whole data set). When the
 * model's config.json records a training split of this data (`data`, {@link dataFingerprint})
 * that differs from today's, warns once: the data changed since training, so the split scored
 * may hold items the model was trained on.
 */
function pick<T>(
  task: 'translate' | 'classify',
  data: string,
  split: 'test' | 'valid' | 'train' | 'all',
  model: { dir: string; cfg: ModelDirConfig },
): T[] {
  const trained = model.cfg.data;
  // Read once: the split scored and the fingerprint's split both come from these items.
  const items = resolveDataset(data, task as 'translate') as unknown as T[];
  if (trained !== undefined && trained.name === data) {
    // The training split as train took it (without a valid part after a --valid file).
    const now = dataFingerprint(data, taskSplit(items, task, trained.validFile ?? false).train);
    if (now.trainSha256 !== trained.trainSha256)
      warn(
        `${model.dir} was trained on another version of ${data} (training split of ${trained.trainItems} items, sha256 ${trained.trainSha256.slice(0, 12)}; now ${now.trainItems}, ${now.trainSha256.slice(0, 12)}): the ${split} part scored may hold items it was trained on, and the score is not comparable with models trained on the current data`,
      );
  }
  if (split === 'all') return items;
  return taskSplit(items, task)[split];
}

/**
 * `transformer eval`: BLEU (translate), loss/perplexity (lm), accuracy (classify) on the
 * chosen split: a built-in data set is scored on its held-out test split (lm: the last 10%,
 * the part training validates on), a file as a whole, unless --split says otherwise.
 */
export async function runEval(o: EvalOptions): Promise<void> {
  const cfg = readModelDirConfig(o.model);
  if (o.exposureBias && cfg.task !== 'translate')
    throw new Error(`--exposure-bias applies to translation models, not ${cfg.task} (${o.model})`);
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
    const pairs = pick<{ source: string; target: string }>('translate', o.data, split, {
      dir: o.model,
      cfg,
    });
    const chosen = pairs.slice(0, o.limit ?? pairs.length);
    if (o.exposureBias) return runExposureBias(o.model, chosen, split, o.json);
    const hyps = translateTexts(
      o.model,
      chosen.map((p) => p.source),
      { beam: o.beam, maxLen: 100, lengthPenalty: o.lengthPenalty, onWarning: warn },
    );
    const bleu = corpusBleu(hyps, [chosen.map((p) => p.target)]);
    result = {
      task: 'translate',
      split,
      bleu: bleu.score,
      sentences: chosen.length,
      beam: o.beam,
      ...(o.beam > 1 ? { length_penalty: o.lengthPenalty ?? DEFAULT_LENGTH_PENALTY } : {}),
      signature: bleu.format(),
      ...(o.byLength ? bucketFields(chosen, hyps) : {}),
    };
  } else {
    const all = pick<{ text: string; label: string }>('classify', o.data, split, {
      dir: o.model,
      cfg,
    });
    const exs = all.slice(0, o.limit ?? all.length);
    const { labels } = readModelDirConfig(o.model, 'classify');
    const preds = classifyWithDir(
      o.model,
      exs.map((e) => e.text),
      { onWarning: warn },
    );
    const id = new Map((labels ?? []).map((l, i) => [l, i]));
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
