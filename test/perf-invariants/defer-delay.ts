/**
 * Imported first by invariants.test.ts: the native backend runs on the transformer_testhooks
 * build with a 2 ms wait before each deferred GEMM (NativeTestHooks.setDeferDelayUs).
 * `deferDelayHooked` says whether that took (false when the testhooks build is missing).
 */
import { useTestHooksBuild } from '../../src/backend/native.js';

const hooks = useTestHooksBuild();
if (!('error' in hooks)) hooks.setDeferDelayUs(2000);

export const deferDelayHooked = !('error' in hooks);
