/**
 * `transformer serve`: an express 5 application with the JSON endpoints of api.ts and the
 * page of src/serve/page (GET /). Bodies are parsed by express.json with a size limit; a
 * malformed or oversized body, an unknown endpoint or model, or a bad field gets a 4xx JSON
 * answer `{"error": "..."}` and the server keeps serving. It binds 127.0.0.1 unless told
 * otherwise. For the page's in-browser mode it also serves GET /browser.js (the library
 * bundled for browsers) and GET /models/NAME/FILE (config.json, model.safetensors,
 * tokenizer.json, tokenizer_target.json of a served model, nothing else).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import { packageRoot } from '../data/index.js';
import { apiHandlers } from './api.js';
import { browserBundle } from './bundle.js';
import { HttpError, ModelRegistry } from './models.js';

/** Options of startServer. */
export interface ServeOptions {
  /** Model directories (each loaded once). */
  models: readonly string[];
  /** TCP port; 0 picks a free one. Default 8080. */
  port?: number;
  /** Address to bind. Default 127.0.0.1 (this machine only). */
  host?: string;
  /** Largest request body, in express.json's notation ('64kb', '1mb', or bytes). Default '64kb'. */
  bodyLimit?: string | number;
}

/** The folder of the page's static files (index.html, app.js, style.css). */
export function pageDir(): string {
  return join(packageRoot(), 'src', 'serve', 'page');
}

/** The files of a model directory the page may fetch (to run the model in the browser). */
const MODEL_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_target.json'];

const ENDPOINTS = [
  'GET /api/models',
  'POST /api/translate',
  'POST /api/generate',
  'POST /api/classify',
  'POST /api/attention',
];

/** The status and message of an error thrown while serving a request. */
function describeError(err: unknown): { status: number; message: string } {
  if (err instanceof HttpError) return { status: err.status, message: err.message };
  const e = err as Error & { type?: string; status?: number; limit?: number };
  if (e.type === 'entity.parse.failed')
    return { status: 400, message: `malformed JSON body: ${e.message}` };
  if (e.type === 'entity.too.large')
    return { status: 413, message: `the body is larger than the limit of ${e.limit} bytes` };
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500)
    return { status: e.status, message: e.message };
  // The library refused the input (e.g. a text that encodes to no tokens).
  return { status: 422, message: e.message ?? String(err) };
}

/**
 * The application over loaded models (no socket: `startServer` listens).
 * @param bodyLimit largest JSON body (express.json's `limit`)
 */
export function createApp(models: ModelRegistry, bodyLimit: string | number = '64kb') {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: bodyLimit }));
  const api = apiHandlers(models);
  app.get('/api/models', api.models);
  for (const name of ['translate', 'generate', 'classify', 'attention'] as const)
    app.post(`/api/${name}`, api[name]);
  app.all('/api/{*rest}', (req: Request) => {
    throw new HttpError(
      404,
      `unknown endpoint ${req.method} ${req.path} (endpoints: ${ENDPOINTS.join(', ')})`,
    );
  });
  // The page's in-browser mode: the library bundled for browsers, and the models' files.
  app.get('/browser.js', async (_req: Request, res: Response) => {
    res.type('text/javascript').send(await browserBundle());
  });
  app.get('/models/:name/:file', (req: Request, res: Response) => {
    const m = models.get(req.params.name);
    const file = req.params.file;
    const path = join(m.dir, file);
    if (!MODEL_FILES.includes(file) || !existsSync(path))
      throw new HttpError(
        404,
        `no file '${file}' for model '${m.name}' (files: ${MODEL_FILES.join(', ')})`,
      );
    res.sendFile(resolvePath(path));
  });
  app.use(express.static(pageDir(), { index: 'index.html' }));
  app.use((req: Request) => {
    throw new HttpError(404, `not found: ${req.method} ${req.path}`);
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const { status, message } = describeError(err);
    if (res.headersSent) return res.end();
    res.status(status).json({ error: message });
  });
  return app;
}

/**
 * Load the models and listen.
 * @returns the server, its URL (http://host:port/) and `close()`
 * @throws Error naming the directory when a model cannot be loaded, or the port/host when the
 *   server cannot listen (e.g. EADDRINUSE).
 */
export async function startServer(
  o: ServeOptions,
): Promise<{ server: Server; url: string; models: ModelRegistry; close(): Promise<void> }> {
  const models = new ModelRegistry(o.models);
  const app = createApp(models, o.bodyLimit);
  const host = o.host ?? '127.0.0.1';
  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: Error) =>
      reject(new Error(`serve: cannot listen on ${host}:${o.port ?? 8080}: ${e.message}`)),
    );
    server.listen(o.port ?? 8080, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    server,
    url: `http://${shown}:${port}/`,
    models,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}
