/**
 * Where `transformer train` writes (issue #11 item 1): a model directory is never mixed with
 * another run's files.
 *
 * - A new run refuses an `--out DIR` that already holds a model or a run (config.json,
 *   model.safetensors, checkpoint.safetensors) unless `--overwrite`; it trains in the
 *   sibling folder `DIR.tmp-<pid>` and renames it to DIR at the end (the old DIR, if any, is
 *   removed only then).
 * - A run that stops early (Ctrl-C, a non-finite loss, an error) after writing a checkpoint
 *   is "parked": its folder becomes DIR when DIR does not exist, so
 *   `transformer train ... --resume --out DIR` continues it; when DIR holds an older model
 *   (--overwrite), that model is kept and the run stays in `DIR.tmp-<pid>`, which is the
 *   folder to pass to --resume.
 * - `--resume` trains in DIR itself and needs DIR/checkpoint.safetensors.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { processAlive } from '../train/run-files.js';

/** Files a training run writes into its directory (and their atomic-write temporaries). */
export const RUN_FILES = [
  'config.json',
  'model.safetensors',
  'tokenizer.json',
  'tokenizer_target.json',
  'metrics.jsonl',
  'loss.svg',
  'checkpoint.safetensors',
  'snapshots', // --average-checkpoints: the parameters at the last validations
];
/** The files that make a directory a model or a run: replacing them needs --overwrite. */
const MODEL_FILES = ['config.json', 'model.safetensors', 'checkpoint.safetensors'];

export interface RunDir {
  /** The directory the user named (--out). */
  out: string;
  /** Where this run writes: `out` when resuming, else the temporary sibling. */
  work: string;
  /** A new run (in a temporary folder) rather than a resumed one. */
  fresh: boolean;
}

const isRunFile = (name: string): boolean =>
  RUN_FILES.some((f) => name === f || name.startsWith(`${f}.tmp-`));

/**
 * Check --out against --overwrite / --resume (before any data is read).
 * @throws Error naming --out and what it holds, or the missing checkpoint for --resume.
 */
export function checkRunDir(out: string, o: { overwrite?: boolean; resume?: boolean }): void {
  if (o.resume) {
    const ckpt = join(out, 'checkpoint.safetensors');
    if (!existsSync(ckpt))
      throw new Error(
        `--resume: no checkpoint at ${ckpt} (nothing to resume; leave out --resume to start a new run)`,
      );
    return;
  }
  if (existsSync(out)) {
    if (!statSync(out).isDirectory()) throw new Error(`--out: '${out}' is a file, not a directory`);
    const names = readdirSync(out);
    const other = names.filter((n) => !isRunFile(n));
    if (other.length > 0)
      throw new Error(
        `--out: '${out}' holds files that a training run does not write (${other.slice(0, 5).join(', ')}${other.length > 5 ? ', ...' : ''}); choose another directory`,
      );
    const held = MODEL_FILES.filter((f) => names.includes(f));
    if (held.length > 0 && !o.overwrite)
      throw new Error(
        `--out: '${out}' already holds a model or run (${held.join(', ')}); pass --overwrite to replace it, or --resume to continue its training`,
      );
  }
}

/**
 * Check --out (checkRunDir) and create the folder the run writes into.
 * @throws Error as checkRunDir.
 */
export function prepareRunDir(out: string, o: { overwrite?: boolean; resume?: boolean }): RunDir {
  checkRunDir(out, o);
  if (o.resume) return { out, work: out, fresh: false };
  const work = `${out}.tmp-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  return { out, work, fresh: true };
}

/**
 * Earlier runs of `out` left in temporary folders by processes that no longer run (killed):
 * those with a checkpoint are returned, those without one are removed.
 */
export function abandonedRuns(out: string): string[] {
  const parent = dirname(out);
  const prefix = `${basename(out)}.tmp-`;
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.startsWith(prefix) && /^\d+$/.test(n.slice(prefix.length)))
    .filter((n) => {
      const pid = Number(n.slice(prefix.length));
      if (pid === process.pid || processAlive(pid)) return false; // still running
      if (existsSync(join(parent, n, 'checkpoint.safetensors'))) return true;
      rmSync(join(parent, n), { recursive: true, force: true }); // nothing to resume
      return false;
    })
    .map((n) => join(parent, n));
}

/** A finished new run: its folder replaces `out` (the old model, if any, is removed now). */
export function commitRunDir(r: RunDir): void {
  if (!r.fresh) return;
  if (existsSync(r.out)) {
    const old = `${r.out}.old-${process.pid}`;
    renameSync(r.out, old);
    renameSync(r.work, r.out);
    rmSync(old, { recursive: true, force: true });
  } else renameSync(r.work, r.out);
}

/**
 * A run that stopped early: keep its checkpoint where --resume can find it.
 * @returns the directory holding the checkpoint, or null when the run wrote none (its
 *   temporary folder is then removed).
 */
export function parkRunDir(r: RunDir): string | null {
  const has = existsSync(join(r.work, 'checkpoint.safetensors'));
  if (!r.fresh) return has ? r.out : null;
  if (!has) {
    rmSync(r.work, { recursive: true, force: true });
    return null;
  }
  if (existsSync(r.out) && readdirSync(r.out).length > 0) return r.work; // keep the old model
  rmSync(r.out, { recursive: true, force: true }); // an empty directory
  renameSync(r.work, r.out);
  return r.out;
}
