/**
 * `transformer train --task classify --arch tfidf-logreg | bow-nb`: fit a classical baseline
 * (src/tasks/baseline.ts) on the same data and deterministic splits as the Transformer
 * classifier, write its model directory (config.json, model.safetensors, metrics.jsonl) the
 * same safe way (a temporary folder renamed into place), and print the validation and test
 * accuracy as the Transformer's run does.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTaskData } from '../tasks/data.js';
import { fitBaseline, type BaselineArch, type BaselineConfig } from '../tasks/baseline.js';
import { writeJsonAtomic } from '../tasks/modeldir.js';
import { commitRunDir, prepareRunDir } from './run-dir.js';
import type { TrainCommandOptions } from './train-options.js';
import { output } from './output.js';

/** Fit, evaluate and save a baseline classifier (see the file's comment). */
export function trainBaselineCommand(
  o: TrainCommandOptions,
  out: string,
  config: BaselineConfig,
): void {
  const arch = o.arch as BaselineArch;
  const data = loadTaskData('classify', o.data ?? 'spamassassin', o.valid);
  const rd = prepareRunDir(out, { overwrite: o.overwrite });
  const t0 = performance.now();
  const model = fitBaseline(arch, data.train, config);
  const seconds = (performance.now() - t0) / 1000;
  const valid = model.evaluate(data.valid);
  const test = model.evaluate(data.test);
  output.err(
    `classification: ${arch}, ${model.vocab.size.toLocaleString('en-US')} terms, labels ${model.labels.join(', ')}, ${data.train.length} training examples (${data.valid.length} valid, ${data.test.length} test), fitted in ${seconds.toFixed(2)} s\n`,
  );
  writeJsonAtomic(join(rd.work, 'config.json'), { version: '0.1.0', ...model.dirConfig() });
  model.saveWeights(rd.work);
  const record = {
    step: 1,
    seconds,
    valid_loss: valid.loss,
    valid_accuracy: valid.accuracy,
    test_accuracy: test.accuracy,
  };
  writeFileSync(join(rd.work, 'metrics.jsonl'), JSON.stringify(record) + '\n');
  commitRunDir(rd);
  const pct = (x: number) => (x * 100).toFixed(2);
  output.err(
    `validation accuracy ${pct(valid.accuracy)}% (loss ${valid.loss.toFixed(4)}); test accuracy: ${pct(test.accuracy)}% (${Math.round(test.accuracy * data.test.length)}/${data.test.length}); model in ${out}\n`,
  );
}
