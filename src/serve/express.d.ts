/**
 * The part of express 5's API that src/serve uses, typed here because @types/express is not
 * installed (express itself is a dependency). Signatures follow expressjs.com/en/5x/api.html.
 */
declare module 'express' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export interface Request extends IncomingMessage {
    /** The parsed JSON body (express.json), undefined when there was none. */
    body: unknown;
    path: string;
    params: Record<string, string>;
  }

  export interface Response extends ServerResponse {
    status(code: number): Response;
    json(body: unknown): Response;
    type(contentType: string): Response;
    set(field: string, value: string): Response;
    send(body: string | Uint8Array): Response;
    sendFile(path: string, callback?: (err?: Error) => void): void;
  }

  export type NextFunction = (err?: unknown) => void;
  export type Handler = (req: Request, res: Response, next: NextFunction) => unknown;
  export type ErrorHandler = (
    err: unknown,
    req: Request,
    res: Response,
    next: NextFunction,
  ) => unknown;

  export interface Application {
    (req: IncomingMessage, res: ServerResponse): void;
    use(...handlers: (Handler | ErrorHandler)[]): Application;
    use(path: string, ...handlers: Handler[]): Application;
    get(path: string, ...handlers: Handler[]): Application;
    post(path: string, ...handlers: Handler[]): Application;
    all(path: string, ...handlers: Handler[]): Application;
    disable(setting: string): Application;
  }

  interface Express {
    (): Application;
    json(options?: { limit?: string | number; strict?: boolean; type?: string }): Handler;
    static(root: string, options?: { index?: string | false; fallthrough?: boolean }): Handler;
  }

  const express: Express;
  export default express;
}
