/**
 * Greedy generation in bf16 against fp32 for a trained language model (issue 15 part 2):
 * each prompt is decoded greedily with float32 GEMMs and with bfloat16 GEMMs (NativeConfig
 * bf16Gemm; Kalamkar et al. 2019) by compareGreedyPrecision (src/decode/precision-compare.ts),
 * and a markdown table says, per prompt, how many new tokens are equal, where the first
 * divergence is and fp32's top-1 minus top-2 logit margin there (a divergence at a margin
 * within about twice the bf16 logit gap is a near tie, not a defect); then the tokens/s of
 * each precision.
 *
 *   node --import tsx scripts/bf16-generate.ts [--model runs/lm] [--prompts FILE]
 *     [--tokens 100] [--texts]
 *
 * --model    a directory written by `transformer train --task lm` (DecoderLM or
 *            TransformerXL). Default runs/lm.
 * --prompts  a text file, one prompt per line (`\n` in a line stands for a line break);
 *            default: eight Shakespeare openings.
 * --tokens   new tokens per prompt and precision. Default 100.
 * --texts    also print both continuations of every prompt that diverges.
 *
 * Needs the native backend. Tokens/s are wall time of the decodes, one prompt at a time
 * (batch 1, KV cache), after a short warm-up; on a shared machine they vary from run to run.
 * Letters: P prompts, N new tokens.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { availableBackends, setBackend } from '../src/backend/index.js';
import { loadNativeAddon, nativeConfig } from '../src/backend/native.js';
import {
  compareGreedyPrecision,
  type PromptPrecisionComparison,
} from '../src/decode/precision-compare.js';
import { loadLanguageModel } from '../src/tasks/lm.js';
import { encodeChecked, specialTokenIds, type Tokenizer } from '../src/tokenizers/index.js';

const DEFAULT_PROMPTS = [
  'First Citizen:\\n',
  'ROMEO:\\n',
  'JULIET:\\nO ',
  'KING RICHARD III:\\n',
  'To be, or not to be',
  'What say you',
  'The king is',
  'MENENIUS:\\nI tell you',
];

const { values: a } = parseArgs({
  options: {
    model: { type: 'string', default: 'runs/lm' },
    prompts: { type: 'string' },
    tokens: { type: 'string', default: '100' },
    texts: { type: 'boolean', default: false },
  },
});

/** The prompts (escaped `\n` as in the file): from --prompts, or the defaults. */
function readPrompts(): string[] {
  const lines = a.prompts
    ? readFileSync(a.prompts, 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
    : DEFAULT_PROMPTS;
  if (lines.length === 0) throw new Error(`--prompts: '${a.prompts}' holds no prompt`);
  return lines;
}

/** A prompt as a table cell: line breaks shown as \n, pipes escaped, at most 32 characters. */
function cell(escaped: string): string {
  const s = escaped.length > 32 ? `${escaped.slice(0, 31)}…` : escaped;
  return '`' + s.replaceAll('|', '\\|').replaceAll('`', "'") + '`';
}

/**
 * One table row: prompt, tokens equal, first divergence, fp32 margin there, the smallest fp32
 * margin of the compared steps, the largest logit gap.
 */
function row(prompt: string, p: PromptPrecisionComparison): string {
  const n = p.fp32.length;
  const equal = p.divergence ?? n;
  const margin = p.margin === null ? '-' : p.margin.toFixed(4);
  const divergence = p.divergence === null ? '-' : String(p.divergence);
  const gap = p.maxLogitDiff.toFixed(4);
  const least = p.minMargin.toFixed(4);
  return `| ${cell(prompt)} | ${equal}/${n} | ${divergence} | ${margin} | ${least} | ${gap} |`;
}

/** Both continuations of a prompt that diverges, as a short markdown block. */
function texts(tok: Tokenizer, prompt: string, p: PromptPrecisionComparison): string {
  const show = (ids: number[]): string => JSON.stringify(tok.decode(ids, { skipSpecial: true }));
  return [
    `- ${cell(prompt)} diverges at new token ${p.divergence}:`,
    `  - fp32: ${show(p.fp32)}`,
    `  - bf16: ${show(p.bf16)}`,
  ].join('\n');
}

function main(): void {
  if (!availableBackends().includes('native'))
    throw new Error('bf16-generate: bf16 GEMMs need the native backend, which did not load');
  setBackend('native');
  const maxNewTokens = Number(a.tokens);
  if (!(Number.isInteger(maxNewTokens) && maxNewTokens > 0))
    throw new Error(`--tokens must be a positive integer, got '${a.tokens}'`);
  const { model, tokenizer } = loadLanguageModel(a.model!);
  const escaped = readPrompts();
  const prompts = escaped.map((line, i) => {
    const { ids, warning } = encodeChecked(tokenizer, line.replaceAll('\\n', '\n'), '--prompts');
    if (warning !== null) process.stderr.write(`warning: prompt ${i + 1}: ${warning}\n`);
    if (ids.length === 0) throw new Error(`--prompts: prompt ${i + 1} encodes to no tokens`);
    return ids;
  });
  const opts = { suppressIds: specialTokenIds(tokenizer) };
  compareGreedyPrecision(model, prompts.slice(0, 1), Math.min(8, maxNewTokens), opts); // warm-up
  const r = compareGreedyPrecision(model, prompts, maxNewTokens, opts);

  const addon = loadNativeAddon();
  const gemm = 'error' in addon ? null : addon.gemmInfo();
  const kernel = gemm?.bf16 ? 'a bf16 GEMM kernel' : 'bf16-rounded operands through the fp32 GEMM';
  const lines = [
    `## Greedy decoding, bf16 vs fp32 GEMMs: ${a.model}`,
    '',
    `${prompts.length} prompts, ${maxNewTokens} new tokens each; native backend, ` +
      `${nativeConfig().threads} thread(s), GEMM library ${gemm?.active ?? '?'} (bf16: ${kernel}).`,
    '',
    '| prompt | tokens equal | first divergence | fp32 top-1 - top-2 there | smallest margin | max abs logit gap |',
    '|---|---:|---:|---:|---:|---:|',
    ...r.prompts.map((p, i) => row(escaped[i], p)),
    '',
    'Margins and gaps in logits, over the steps both runs decode from the same context (all ' +
      'steps, or up to the divergence): "smallest margin" is the closest fp32 top-1 vs top-2 ' +
      'call, "max abs logit gap" the largest |logit_bf16 - logit_fp32|; bf16 can flip the ' +
      'argmax only where the margin is within twice the gap.',
    '',
    '| precision | tokens | seconds | tokens/s |',
    '|---|---:|---:|---:|',
    ...(['fp32', 'bf16'] as const).map((k) => {
      const t = r[k];
      return `| ${k} | ${t.tokens} | ${t.seconds.toFixed(2)} | ${(t.tokens / t.seconds).toFixed(1)} |`;
    }),
  ];
  const diverged = r.prompts.flatMap((p, i) => (p.divergence === null ? [] : [i]));
  if (a.texts && diverged.length > 0)
    lines.push('', ...diverged.map((i) => texts(tokenizer, escaped[i], r.prompts[i])));
  process.stdout.write(lines.join('\n') + '\n');
}

main();
