/**
 * Classification accuracy over whole sequences of predictions, and token accuracy that skips
 * padding. Legend: T positions (tokens or examples).
 */

function checkPair(name: string, predictions: ArrayLike<number>, labels: ArrayLike<number>): void {
  if (predictions.length !== labels.length) {
    throw new RangeError(
      `${name}: predictions and labels differ in length (${predictions.length} vs ${labels.length})`,
    );
  }
}

/**
 * Fraction of positions where the predicted class id equals the label.
 * @param predictions (T) predicted class ids (e.g. argmax of logits), any numeric array
 * @param labels (T) true class ids
 * @returns correct / T, in 0..1 (not percent)
 * @throws RangeError when the lengths differ or T is 0
 */
export function accuracy(predictions: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkPair('accuracy', predictions, labels);
  if (labels.length === 0) throw new RangeError('accuracy: no examples');
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predictions[i] === labels[i]) correct++;
  return correct / labels.length;
}

/**
 * Token accuracy for sequence models: the fraction of non-padding positions whose predicted
 * token id equals the label. Positions whose label is `ignoreIndex` (the pad id; PyTorch's
 * `ignore_index` convention) count neither as correct nor in the total.
 * @param predictions (T) predicted token ids, flattened over batch and time
 * @param labels (T) target token ids
 * @param ignoreIndex label value to skip: the pad id, or -100 for labels masked PyTorch-style.
 *   Required, so that padding is never counted by accident.
 * @returns correct / counted, in 0..1, with the counts
 * @throws RangeError when the lengths differ or every label equals ignoreIndex
 */
export function tokenAccuracy(
  predictions: ArrayLike<number>,
  labels: ArrayLike<number>,
  ignoreIndex: number,
): { accuracy: number; correct: number; total: number } {
  checkPair('tokenAccuracy', predictions, labels);
  let correct = 0;
  let total = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === ignoreIndex) continue;
    total++;
    if (predictions[i] === labels[i]) correct++;
  }
  if (total === 0) {
    throw new RangeError(`tokenAccuracy: every label equals ignoreIndex (${ignoreIndex})`);
  }
  return { accuracy: correct / total, correct, total };
}
