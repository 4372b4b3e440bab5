/**
 * Benchmark entry: `npm run bench [-- --case NAME] [--json]`.
 * Runs the registered cases (all by default), printing a table per case followed by one
 * JSON line per row ({"case": ..., ...row}). Add a case by adding it to `cases`.
 */
import { parseArgs } from 'node:util';
import { attentionCase } from './attention.js';
import { generateCase } from './generate.js';
import { lmFloorCase } from './lm-floor.js';
import { lmMemoryCase } from './lm-memory.js';
import { lmTrainCase } from './lm-train.js';
import { linearDecodeCase } from './linear-decode.js';
import { longAttentionCase } from './long-attention.js';
import { onnxGenerateCase } from './onnx-generate.js';
import { matmulCase, type CaseResult, type Row } from './matmul.js';
import { lmGpt2Case, lmScalingCase, lmSizeCase, seq2seqBaseCase } from './scale.js';
import { seq2seqTrainCase } from './seq2seq-train.js';
import { vectorsCase } from './vectors.js';

/** The benchmark registry: name -> case. */
export const cases: Record<string, () => Promise<CaseResult>> = {
  'lm-train': lmTrainCase,
  'seq2seq-train': seq2seqTrainCase,
  generate: generateCase,
  'lm-floor': lmFloorCase,
  'lm-memory': lmMemoryCase,
  matmul: matmulCase,
  attention: attentionCase,
  vectors: vectorsCase,
  'long-attention': longAttentionCase,
  'linear-decode': linearDecodeCase,
  'seq2seq-base': seq2seqBaseCase,
  'lm-gpt2': lmGpt2Case,
  'lm-scaling': lmScalingCase,
  'lm-size': lmSizeCase,
  'onnx-generate': onnxGenerateCase,
};

function table(rows: Row[]): string {
  if (rows.length === 0) return '(no rows)';
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: Row[string] | undefined): string =>
    v === null || v === undefined ? '-' : String(v);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) =>
    vals.map((v, i) => (i === 0 ? v.padEnd(width[i]) : v.padStart(width[i]))).join('  ');
  return [
    line(cols),
    line(width.map((w) => '-'.repeat(w))),
    ...rows.map((r) => line(cols.map((c) => cell(r[c])))),
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      case: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(
      `usage: npm run bench -- [--case NAME]...\ncases: ${Object.keys(cases).join(', ')}`,
    );
    return;
  }
  const names = values.case ?? Object.keys(cases);
  for (const name of names) {
    if (!(name in cases)) {
      throw new Error(`unknown --case '${name}'; known: ${Object.keys(cases).join(', ')}`);
    }
  }
  for (const name of names) {
    const r = await cases[name]();
    console.log(`\n== ${r.title}`);
    console.log(table(r.rows));
    for (const n of r.notes) console.log(`# ${n}`);
    for (const row of r.rows) console.log(JSON.stringify({ case: name, ...row }));
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
