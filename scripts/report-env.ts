/**
 * One sentence for a generated report's header: how many threads the native pool used,
 * which CPUs the process could run on (taskset / cgroup affinity, from /proc), the GEMM
 * library asked for (TRANSFORMER_GEMM) and the machine's load average when the line is made, so a reader can judge the timings.
 */
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { defaultNativeConfig, nativeConfigFromEnv } from '../src/backend/native-config.js';

/** The CPUs this process may run on, e.g. "0" or "0-1" (Linux), else null. */
export function allowedCpus(): string | null {
  try {
    const m = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? m[1] : null;
  } catch {
    return null;
  }
}

/** E.g. "1 native thread, pinned to CPU 0 of 2 (AMD ...), GEMM openblas, load average 1.3". */
export function runEnvironment(): string {
  const threads = nativeConfigFromEnv().threads ?? defaultNativeConfig().threads;
  const list = allowedCpus();
  const all = cpus();
  const pinned =
    list && list !== `0-${all.length - 1}`
      ? `pinned to CPU ${list} of ${all.length}`
      : `${all.length} CPUs`;
  return `${threads} native thread${threads === 1 ? '' : 's'}, ${pinned} (${all[0]?.model ?? 'unknown CPU'}), GEMM ${process.env.TRANSFORMER_GEMM || 'auto (oneDNN when installed)'}${process.env.TRANSFORMER_PRECISION === 'bf16' ? ' bf16' : ''}, load average ${loadavg()[0].toFixed(1)} when written`;
}
