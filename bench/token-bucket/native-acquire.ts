// Builds and runs acquire-bench.cc, the C++ micro-benchmark of the addon's
// token bucket, against native/token_bucket.cc as it is in the working tree.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const NATIVE_DIR = join(HERE, '..', '..', 'native');
const SOURCES = [join(HERE, 'acquire-bench.cc'), join(NATIVE_DIR, 'token_bucket.cc')];
const HEADER = join(NATIVE_DIR, 'token_bucket.h');
const BINARY_PATH = join(HERE, '..', '.build', 'acquire-bench');

export interface NativeAcquireResult {
  threads: number;
  iterations: number;
  /** The clock that TokenBucket::NowTicks() reads: "tsc" (RDTSC) or "monotonic" (clock_gettime). */
  clock: 'tsc' | 'monotonic';
  /** Nanoseconds per TryAcquire() call (clock read included), per thread. */
  tryAcquireNs: number[];
  /** Nanoseconds per TryAcquireAt() call (no clock read), per thread. */
  tryAcquireAtNs: number[];
  /** Nanoseconds per TokenBucket::NowTicks() call, the clock read, per thread. */
  clockNs: number[];
  granted: number;
  rejected: number;
}

/**
 * Compiles acquire-bench when the binary is missing or older than its
 * sources, with the compiler named by $CXX or `c++`, and the flags of the
 * addon's Release build that affect code generation (-O2, C++20).
 */
export function buildNativeAcquire(): string {
  if (existsSync(BINARY_PATH)) {
    const binaryTime = statSync(BINARY_PATH).mtimeMs;
    if ([...SOURCES, HEADER].every((input) => statSync(input).mtimeMs <= binaryTime)) return BINARY_PATH;
  }
  mkdirSync(dirname(BINARY_PATH), { recursive: true });
  const temporaryPath = `${BINARY_PATH}.${process.pid}.tmp`;
  const compiler = process.env.CXX || 'c++';
  const args = ['-std=c++20', '-O2', '-Wall', '-Wextra', '-Werror', '-pthread', '-o', temporaryPath, ...SOURCES];
  try {
    execFileSync(compiler, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    rmSync(temporaryPath, { force: true });
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`Compiling acquire-bench with ${compiler} failed: ${stderr || String(error)}`);
  }
  renameSync(temporaryPath, BINARY_PATH);
  return BINARY_PATH;
}

export function runNativeAcquire(threads: number, iterations: number): NativeAcquireResult {
  const binaryPath = buildNativeAcquire();
  const output = execFileSync(binaryPath, [String(threads), String(iterations)], { encoding: 'utf8', timeout: 120_000 });
  return JSON.parse(output.trim()) as NativeAcquireResult;
}
