// Runner for bench/c/gcm-loop.c, the plain C loop that calls the PKCS#11
// module directly. Its rates are the baseline that the engine's benchmark
// figures are compared with.
//
// Run directly for a manual check on a new SoftHSM2 token set in a temp folder:
//   npx tsc -p tsconfig.json && npx tsx bench/c-loop.ts [--runs 7] [--seconds 1] [--bytes 32] [--keep]
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { debuglog, parseArgs } from 'node:util';

import { provisionSoftHsm, softHsmEnvironment, type SoftHsmTokenSet } from '../dist/softhsm.js';

const log = debuglog('hsm-kms:bench');

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const SOURCE_PATH = join(BENCH_DIR, 'c', 'gcm-loop.c');
const HEADER_PATH = join(BENCH_DIR, '..', 'native', 'pkcs11_api.h');
const BINARY_PATH = join(BENCH_DIR, '.build', 'gcm-loop');

/** Environment variable from which gcm-loop reads the user PIN. */
const PIN_ENVIRONMENT_VARIABLE = 'HSM_KMS_BENCH_PIN';

/** Extra time in ms allowed beyond runs × seconds for module loading, login and key generation. */
const SETUP_TIMEOUT_MS = 60_000;

/** Time in ms between SIGTERM and SIGKILL when gcm-loop times out. */
const KILL_GRACE_MS = 5_000;

export interface CLoopOptions {
  /** Module path and softhsm2.conf of the token set (from `provisionSoftHsm`). */
  tokenSet: Pick<SoftHsmTokenSet, 'modulePath' | 'confPath'>;
  /**
   * Token label. One label: all threads use that token. Several labels: one
   * thread per token, and `threads` must be unset or equal to their count.
   */
  tokens: string | string[];
  /** User PIN, passed to the child in its environment and never on its command line. */
  pin: string;
  op: 'encrypt' | 'decrypt';
  /** Key to use: `token` is the token object, `session` a CKA_TOKEN=false copy of it. */
  key: 'token' | 'session';
  /** Plaintext size in bytes (default 32). */
  bytes?: number;
  /** Threads in the process, each with its own session (default 1). */
  threads?: number;
  /** Number of runs, whose median the result reports (default 7). */
  runs?: number;
  /** Duration of one run in seconds, fractions allowed (default 1). */
  seconds?: number;
  /** Stop the child with SIGTERM after this many ms (default runs × seconds + 60 s). */
  timeoutMs?: number;
}

/** The JSON line that gcm-loop prints. Rates are in operations per second. */
export interface CLoopResult {
  op: 'encrypt' | 'decrypt';
  key: 'token' | 'session';
  bytes: number;
  threads: number;
  /** Distinct tokens used. */
  tokens: number;
  seconds: number;
  /** Rate of each run, summed over threads. */
  runs: number[];
  median: number;
}

export interface CLoopProcessesResult {
  processes: number;
  results: CLoopResult[];
  /**
   * Sum of the processes' medians in ops/s. An estimate of the combined rate:
   * the processes start together but their runs are not aligned in time.
   */
  medianSum: number;
}

/**
 * Compiles gcm-loop.c into bench/.build/gcm-loop when the binary is missing or
 * older than the source or the PKCS#11 header. Returns the binary path. Uses
 * the compiler named by $CC, or `cc`.
 */
export function buildCLoop(): string {
  if (existsSync(BINARY_PATH)) {
    const binaryTime = statSync(BINARY_PATH).mtimeMs;
    const upToDate = [SOURCE_PATH, HEADER_PATH].every((input) => statSync(input).mtimeMs <= binaryTime);
    if (upToDate) return BINARY_PATH;
  }

  mkdirSync(dirname(BINARY_PATH), { recursive: true });
  // Compile to a per-process file and rename it, so that runners that build
  // at the same time never execute a half-written binary.
  const temporaryPath = `${BINARY_PATH}.${process.pid}.tmp`;
  const compiler = process.env.CC || 'cc';
  const args = ['-std=c11', '-O2', '-Wall', '-Wextra', '-Werror', '-pthread', '-o', temporaryPath, SOURCE_PATH, '-ldl'];
  log('compiling %s: %s %s', SOURCE_PATH, compiler, args.join(' '));
  try {
    execFileSync(compiler, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    rmSync(temporaryPath, { force: true });
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`Compiling ${SOURCE_PATH} with ${compiler} failed: ${stderr || String(error)}`);
  }
  renameSync(temporaryPath, BINARY_PATH);
  return BINARY_PATH;
}

function buildArguments(options: CLoopOptions): string[] {
  const args = ['--module', options.tokenSet.modulePath, '--op', options.op, '--key', options.key];
  if (Array.isArray(options.tokens)) {
    args.push('--tokens', options.tokens.join(','));
  } else {
    args.push('--token', options.tokens);
  }
  if (options.bytes !== undefined) args.push('--bytes', String(options.bytes));
  if (options.threads !== undefined) args.push('--threads', String(options.threads));
  if (options.runs !== undefined) args.push('--runs', String(options.runs));
  if (options.seconds !== undefined) args.push('--seconds', String(options.seconds));
  return args;
}

function validateOptions(options: CLoopOptions): void {
  const labels = Array.isArray(options.tokens) ? options.tokens : [options.tokens];
  if (labels.length === 0) throw new RangeError('Invalid tokens: give at least one token label');
  const withComma = labels.find((label) => label.includes(','));
  if (withComma !== undefined) {
    throw new RangeError(`Invalid token label "${withComma}": gcm-loop separates labels with commas`);
  }
  if (!options.pin) throw new RangeError('Missing pin: set it to the user PIN of the token');
}

function parseResult(stdout: string): CLoopResult {
  const line = stdout.trim().split('\n').pop() ?? '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new Error(`gcm-loop printed no JSON result line; stdout was: ${JSON.stringify(stdout)}`);
  }
  const result = parsed as CLoopResult;
  if (typeof result.median !== 'number' || !Array.isArray(result.runs)) {
    throw new Error(`gcm-loop printed an unexpected result: ${line}`);
  }
  return result;
}

/**
 * Runs gcm-loop once (building it first if needed) and resolves with its
 * result. Rejects with the child's stderr when it exits with a non-zero status,
 * is killed, or prints no result.
 */
export async function runCLoop(options: CLoopOptions): Promise<CLoopResult> {
  validateOptions(options);
  const binaryPath = buildCLoop();
  const args = buildArguments(options);
  const timeoutMs = options.timeoutMs ?? (options.runs ?? 7) * (options.seconds ?? 1) * 1000 + SETUP_TIMEOUT_MS;
  const env = {
    ...process.env,
    ...softHsmEnvironment(options.tokenSet),
    [PIN_ENVIRONMENT_VARIABLE]: options.pin,
  };
  log('starting %s %s', binaryPath, args.join(' '));

  return new Promise((resolve, reject) => {
    const child = spawn(binaryPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));

    // SIGTERM lets gcm-loop destroy its keys before it exits. SIGKILL follows
    // if it does not exit, for example while a PKCS#11 call hangs.
    let killTimer: NodeJS.Timeout | undefined;
    const timeoutTimer = setTimeout(() => {
      timedOut = true;
      log('gcm-loop (pid %d) timed out after %d ms, sending SIGTERM', child.pid, timeoutMs);
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
    }, timeoutMs);

    child.on('error', (error) => {
      clearTimeout(timeoutTimer);
      clearTimeout(killTimer);
      reject(new Error(`Starting ${binaryPath} failed: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timeoutTimer);
      clearTimeout(killTimer);
      log('gcm-loop (pid %d) exited with code %s, signal %s', child.pid, code, signal);
      if (code !== 0 || timedOut) {
        const ending = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        const reason = timedOut ? `timed out after ${timeoutMs} ms and ${ending}` : ending;
        reject(new Error(`gcm-loop ${reason}: ${stderr.trim() || 'no output on stderr'}`));
        return;
      }
      // On success, stderr only contains notes such as slot rescans.
      if (stderr) log('gcm-loop (pid %d) stderr: %s', child.pid, stderr.trim());
      try {
        resolve(parseResult(stdout));
      } catch (error) {
        reject(error);
      }
    });
  });
}

/**
 * Starts `processes` gcm-loop processes at once and sums their medians.
 * `options` is either shared by all processes or a function of the process
 * index, for example to give each process its own token. Rejects if any
 * process fails, after all of them have ended.
 *
 * NOTE: SoftHSM 2.6.1 stores tokens in files that each process reads and
 * writes on its own. With two processes on one token, 300 of 300 starts
 * succeeded on a 2-core Linux machine. With four, 9 of 560 starts failed in
 * C_Login or C_GenerateKey (CKR_GENERAL_ERROR, CKR_USER_PIN_NOT_INITIALIZED),
 * which gcm-loop does not retry. With one token per process, 320 of 320
 * starts of four processes succeeded.
 */
export async function runCLoopProcesses(
  processes: number,
  options: CLoopOptions | ((index: number) => CLoopOptions),
): Promise<CLoopProcessesResult> {
  if (!Number.isInteger(processes) || processes < 1) {
    throw new RangeError(`Invalid process count ${processes}: expected an integer of at least 1`);
  }
  // Build once here, so the processes do not all compile at the same time.
  buildCLoop();
  const optionsFor = typeof options === 'function' ? options : () => options;
  const settled = await Promise.allSettled(Array.from({ length: processes }, (_, index) => runCLoop(optionsFor(index))));

  const failures = settled.filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
  if (failures.length > 0) {
    const messages = failures.map((failure) => String(failure.reason instanceof Error ? failure.reason.message : failure.reason));
    throw new Error(`${failures.length} of ${processes} gcm-loop processes failed: ${messages.join('; ')}`);
  }
  const results = settled.map((outcome) => (outcome as PromiseFulfilledResult<CLoopResult>).value);
  const medianSum = results.reduce((sum, result) => sum + result.median, 0);
  return { processes, results, medianSum };
}

// ---------------------------------------------------------------------------
// Manual check: npx tsx bench/c-loop.ts

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '7' },
      seconds: { type: 'string', default: '1' },
      bytes: { type: 'string', default: '32' },
      keep: { type: 'boolean', default: false },
    },
  });
  const runs = Number(values.runs);
  const seconds = Number(values.seconds);
  const bytes = Number(values.bytes);

  const dir = mkdtempSync(join(tmpdir(), 'hsm-kms-c-loop-'));
  try {
    // Random PINs: the tokens are deleted with the folder.
    const pin = randomBytes(12).toString('hex');
    const tokenSet = provisionSoftHsm({
      dir,
      tokenLabels: ['bench-a', 'bench-b'],
      userPin: pin,
      soPin: randomBytes(12).toString('hex'),
    });
    process.stdout.write(`token set in ${dir}\n`);

    for (const op of ['encrypt', 'decrypt'] as const) {
      for (const key of ['token', 'session'] as const) {
        const base: CLoopOptions = { tokenSet, tokens: 'bench-a', pin, op, key, bytes, runs, seconds };
        const oneThread = await runCLoop(base);
        const twoThreads = await runCLoop({ ...base, threads: 2 });
        const twoTokens = await runCLoop({ ...base, tokens: ['bench-a', 'bench-b'] });
        const processes = await runCLoopProcesses(2, base);
        const ratio = (value: number) => (value / oneThread.median).toFixed(2);
        process.stdout.write(
          `${op} ${key} ${bytes} B: 1 thread ${oneThread.median.toFixed(0)} ops/s, ` +
            `2 threads ${twoThreads.median.toFixed(0)} (×${ratio(twoThreads.median)}), ` +
            `2 threads on 2 tokens ${twoTokens.median.toFixed(0)} (×${ratio(twoTokens.median)}), ` +
            `2 processes ${processes.medianSum.toFixed(0)} (×${ratio(processes.medianSum)}; ` +
            `${processes.results.map((result) => result.median.toFixed(0)).join(' + ')})\n`,
        );
      }
    }
  } finally {
    if (values.keep) {
      process.stdout.write(`kept ${dir}\n`);
    } else {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
