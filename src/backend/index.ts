/**
 * Backend selection. `native` (the C addon) is picked when it loads, `js` otherwise;
 * the environment variable TRANSFORMER_BACKEND=js|native forces one (forcing `native`
 * when it cannot load is an error). When native was wanted but failed, the reason is
 * printed once to stderr.
 */
import { jsBackend } from './js.js';
import { loadNativeBackend } from './native.js';
import type { Backend } from './types.js';

export type {
  AttentionGeometry,
  Backend,
  Kernels,
  KernelName,
  BinaryOp,
  UnaryOp,
  ScalarOp,
} from './types.js';
export { configureNative, nativeConfig } from './native.js';
export { NATIVE_CONFIG_DEFAULTS, type NativeConfig } from './native-config.js';
export { jsBackend };

export type BackendName = Backend['name'];

let current: Backend | null = null;
let nativeCache: Backend | null | undefined;
let nativeError = '';

/** The native backend if it loads, else null (the reason is in `nativeBackendError()`). */
export function tryNativeBackend(): Backend | null {
  if (nativeCache === undefined) {
    const r = loadNativeBackend();
    if ('backend' in r) nativeCache = r.backend;
    else {
      nativeCache = null;
      nativeError = r.error;
    }
  }
  return nativeCache;
}

/** Why the native backend did not load ('' if it did or was not tried). */
export function nativeBackendError(): string {
  return nativeError;
}

function pickDefault(): Backend {
  const forced = process.env.TRANSFORMER_BACKEND;
  if (forced !== undefined && forced !== '' && forced !== 'js' && forced !== 'native') {
    throw new Error(`TRANSFORMER_BACKEND must be 'js' or 'native', got '${forced}'`);
  }
  if (forced === 'js') return jsBackend;
  const native = tryNativeBackend();
  if (native) return native;
  if (forced === 'native') {
    throw new Error(`TRANSFORMER_BACKEND=native but the native addon did not load: ${nativeError}`);
  }
  process.stderr.write(
    `transformer-ts: native backend unavailable (${nativeError}); using the js backend\n`,
  );
  return jsBackend;
}

/** The backend all ops run on. */
export function backend(): Backend {
  if (current === null) current = pickDefault();
  return current;
}

/**
 * Switch the backend all ops run on.
 * @throws Error if `name` is 'native' and the addon does not load.
 */
export function setBackend(name: BackendName): void {
  if (name === 'js') current = jsBackend;
  else {
    const native = tryNativeBackend();
    if (!native) throw new Error(`native backend unavailable: ${nativeError}`);
    current = native;
  }
}

/** The names of the backends that can run here (for `describe.each`-style tests). */
export function availableBackends(): BackendName[] {
  return tryNativeBackend() ? ['js', 'native'] : ['js'];
}

/** Run `fn` with backend `name`, restoring the previous one afterwards. */
export function withBackend<T>(name: BackendName, fn: () => T): T {
  const prev = backend();
  setBackend(name);
  try {
    return fn();
  } finally {
    current = prev;
  }
}

/**
 * Set the number of threads the backend uses (the native kernel pool, OpenBLAS inside it);
 * for the native backend this is configureNative({ threads: n }).
 * @throws Error if n is not a positive integer (or > 64 on native).
 */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`threads must be a positive integer, got ${n}`);
  backend().setThreads(n);
}
