/**
 * Learning-rate schedules: functions from the step number (1-based) to a learning rate.
 */

/** A learning-rate schedule: step (1-based) -> learning rate. */
export type Schedule = (step: number) => number;

/**
 * The paper's schedule (Sec. 5.3, Eq. 3): lr = scale * d_model^-0.5 * min(step^-0.5, step * warmup^-1.5).
 * Linear warmup for `warmup` steps, then decay with the inverse square root of the step.
 * @throws Error if dModel or warmup are not positive.
 */
export function noamSchedule(dModel: number, warmup = 4000, scale = 1): Schedule {
  if (!(dModel > 0) || !(warmup > 0))
    throw new Error(`noamSchedule: dModel and warmup must be positive, got ${dModel}, ${warmup}`);
  return (step) => {
    const s = Math.max(step, 1);
    return scale * Math.pow(dModel, -0.5) * Math.min(Math.pow(s, -0.5), s * Math.pow(warmup, -1.5));
  };
}

/**
 * Linear warmup from 0 to `maxLr` over `warmup` steps, then cosine decay to `minLr` at
 * `totalSteps` (and `minLr` after), as nanoGPT's get_lr.
 */
export function cosineSchedule(
  maxLr: number,
  warmup: number,
  totalSteps: number,
  minLr = maxLr / 10,
): Schedule {
  if (!(totalSteps > warmup))
    throw new Error(`cosineSchedule: totalSteps (${totalSteps}) must exceed warmup (${warmup})`);
  return (step) => {
    if (step <= warmup) return (maxLr * step) / Math.max(warmup, 1);
    if (step >= totalSteps) return minLr;
    const ratio = (step - warmup) / (totalSteps - warmup);
    return minLr + 0.5 * (1 + Math.cos(Math.PI * ratio)) * (maxLr - minLr);
  };
}

/** A constant learning rate. */
export function constantSchedule(lr: number): Schedule {
  return () => lr;
}
