/**
 * The models a server holds: each model directory is loaded once (keyed by its real path, so
 * `runs/lm` and `./runs/lm/` are one model) and named by its folder name (or its path when two
 * folders share a name). Requests pick one by name; without a name, the first.
 */
import { realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { loadNeural, type NeuralModel } from '../tasks/load.js';

/** A loaded model with the name requests use. */
export interface ServedModel {
  name: string;
  /** The directory as given. */
  dir: string;
  loaded: NeuralModel;
}

/** An HTTP error: the status code (4xx) and a message naming the bad part of the request. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The models of one server, each directory loaded once. */
export class ModelRegistry {
  private readonly byPath = new Map<string, ServedModel>();

  /**
   * Load every directory (a directory listed twice is loaded once).
   * @throws Error naming the directory when one cannot be loaded, or when none is given.
   */
  constructor(dirs: readonly string[]) {
    if (dirs.length === 0) throw new Error('--model: give at least one model directory');
    for (const dir of dirs) {
      let path: string;
      try {
        path = realpathSync(dir);
      } catch {
        throw new Error(`--model: '${dir}' does not exist`);
      }
      if (this.byPath.has(path)) continue;
      this.byPath.set(path, { name: basename(path), dir, loaded: loadNeural(dir) });
    }
    const names = new Map<string, number>();
    for (const m of this.byPath.values()) names.set(m.name, (names.get(m.name) ?? 0) + 1);
    for (const [path, m] of this.byPath) if (names.get(m.name)! > 1) m.name = path;
  }

  /** All models, in the order given. */
  get models(): ServedModel[] {
    return [...this.byPath.values()];
  }

  /**
   * The model called `name` (the first model when undefined).
   * @throws HttpError 400 when `name` is not a string, 404 naming the known models when no model
   *   has that name.
   */
  get(name: unknown): ServedModel {
    if (name === undefined) return this.models[0];
    if (typeof name !== 'string')
      throw new HttpError(400, `"model" must be a string, got ${JSON.stringify(name)}`);
    const m = this.models.find((x) => x.name === name);
    if (!m)
      throw new HttpError(
        404,
        `unknown model '${name}' (models: ${this.models.map((x) => x.name).join(', ')})`,
      );
    return m;
  }
}
