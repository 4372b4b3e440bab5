/**
 * Time to a metric (issue #15 part 4): from a run's metrics.jsonl records, the first
 * evaluation at which a validation metric reaches a fraction of the run's final value, e.g.
 * "time to BLEU" = the training seconds at the first evaluation whose validation BLEU is at
 * least 90% of the last evaluation's. A way to compare recipes and GEMM back-ends by
 * wall-clock time to a result rather than by step time alone (cf. MLPerf's time-to-train,
 * Mattson et al. 2020, which times a run to a fixed quality target).
 */

/** One metrics.jsonl record (the Trainer's fields; others ignored). */
export type MetricsRecord = Record<string, unknown>;

/** Where the metric first reached the target. */
export interface TimeToMetric {
  /** The step and training seconds (wall clock since the run's start, `seconds`). */
  step: number;
  seconds: number;
  /** The metric there, the final value and the target (fraction x final). */
  value: number;
  final: number;
  target: number;
  /** Number of evaluations that reported the metric. */
  evaluations: number;
}

/**
 * The first evaluation whose `key` reaches `fraction` of the final evaluation's value
 * (higher is better: BLEU, accuracy).
 * @param records metrics.jsonl records in order; evaluations are those with a finite
 *   number under `key` and under `seconds`.
 * @param key e.g. 'valid_bleu' or 'valid_accuracy'.
 * @param fraction in (0, 1], default 0.9.
 * @returns null when no evaluation reported the metric.
 * @throws Error naming `fraction` when it is outside (0, 1].
 */
export function timeToMetric(
  records: readonly MetricsRecord[],
  key = 'valid_bleu',
  fraction = 0.9,
): TimeToMetric | null {
  if (!(fraction > 0 && fraction <= 1))
    throw new Error(`timeToMetric: fraction must be in (0, 1], got ${fraction}`);
  const evals = records.filter(
    (r) => Number.isFinite(r[key] as number) && Number.isFinite(r.seconds as number),
  );
  if (evals.length === 0) return null;
  const final = evals[evals.length - 1][key] as number;
  const target = fraction * final;
  const hit = evals.find((r) => (r[key] as number) >= target)!;
  return {
    step: hit.step as number,
    seconds: hit.seconds as number,
    value: hit[key] as number,
    final,
    target,
    evaluations: evals.length,
  };
}
