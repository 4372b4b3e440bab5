/**
 * `transformer eval --exposure-bias`: a translation model's per-position loss and accuracy on
 * a split under teacher forcing and under its own greedy prefix (src/rnn/exposure-bias.ts;
 * Bengio et al. 2015's exposure bias made visible), overall and by target-position bucket
 * (1-5, 6-10, 11-20, 21+), as a table or one JSON object with every position.
 */
import { loadTranslator } from '../tasks/translate.js';
import { bucketPositions, exposureBias } from '../rnn/exposure-bias.js';
import { output } from './output.js';

/** Target-position buckets of the table (1-based starts). */
export const POSITION_BUCKETS = [1, 6, 11, 21];

/**
 * Score `pairs` with the model directory and print the result.
 * @param pairs the split's sentence pairs (sources longer than the model's context are cut).
 * @throws Error naming the directory or file (loading), or when no pair has a source.
 */
export function runExposureBias(
  dir: string,
  pairs: readonly { source: string; target: string }[],
  split: string,
  json = false,
): void {
  const t = loadTranslator(dir);
  const maxLen = t.model.config.maxLen - 1;
  const tok = t.vocabs.tgt;
  const encoded = pairs
    .map((p) => ({
      src: t.vocabs.src.encode(p.source).slice(0, maxLen),
      tgt: tok.encode(p.target).slice(0, maxLen - 1),
    }))
    .filter((e) => e.src.length > 0);
  const r = exposureBias(t.model, encoded, {
    padId: tok.padId,
    bosId: tok.bosId,
    eosId: tok.eosId,
  });
  if (json) {
    output.out(JSON.stringify({ task: 'translate', split, pairs: encoded.length, ...r }) + '\n');
    return;
  }
  const f = (x: number): string => (Number.isNaN(x) ? '-' : x.toFixed(3));
  output.out(
    `exposure bias on ${encoded.length} ${split} pairs: loss (nats/token) and accuracy of the gold token\n` +
      `given the gold prefix (teacher forced) vs the model's own greedy prefix (free running)\n\n` +
      `positions  tokens  tf_loss  free_loss  tf_acc  free_acc\n`,
  );
  for (const b of [
    ...bucketPositions(r.positions, POSITION_BUCKETS),
    { bucket: 'all', ...r.overall },
  ])
    output.out(
      `${b.bucket.padEnd(9)}  ${String(b.tokens).padStart(6)}  ${f(b.teacherForcedLoss).padStart(7)}  ${f(b.freeRunningLoss).padStart(9)}  ${f(b.teacherForcedAccuracy).padStart(6)}  ${f(b.freeRunningAccuracy).padStart(8)}\n`,
    );
}
