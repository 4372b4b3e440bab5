/**
 * `transformer export --model DIR --format FORMAT --out OUT`: write a trained model directory
 * in another tool's format (src/export: EXPORT_FORMATS, one entry per format).
 */
import { existsSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { EXPORT_FORMATS, exportModel } from '../export/index.js';
import { output } from './output.js';

export interface ExportCommandOptions {
  model: string;
  format: string;
  out: string;
  overwrite?: boolean;
}

/**
 * Run the export.
 * @throws Error naming --out when it is the model directory or a non-empty directory without
 *   --overwrite; as exportModel otherwise.
 */
export function runExport(o: ExportCommandOptions): void {
  if (resolve(o.out) === resolve(o.model))
    throw new Error(`--out: '${o.out}' is the model directory itself; choose another directory`);
  if (existsSync(o.out) && readdirSync(o.out).length > 0 && !o.overwrite)
    throw new Error(`--out: '${o.out}' is not empty (add --overwrite to replace its files)`);
  const files = exportModel(o.model, o.format, o.out);
  output.out(files.join('\n') + '\n');
}

/** Register `export` on the program. */
export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description(
      'export a model directory for other tools: onnx = a Hugging Face directory with onnx/model.onnx that transformers.js and onnxruntime load',
    )
    .requiredOption('--model <dir>', 'model directory (written by transformer train)')
    .addOption(
      new Option('--format <format>', 'output format')
        .choices(Object.keys(EXPORT_FORMATS))
        .makeOptionMandatory(),
    )
    .requiredOption('--out <dir>', 'output directory')
    .option('--overwrite', 'replace the files of a non-empty --out')
    .action((o: ExportCommandOptions) => runExport(o));
}
