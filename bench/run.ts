// `npm run bench`: measures hsm-kms against the physical limit (a C loop on
// the PKCS#11 module) and against what a user would pick instead (pkcs11js,
// node:crypto), in one run on one SoftHSM2 token set. Run with --help for
// the options. Sections:
// - matrix: Encrypt, Decrypt, GenerateDataKey and ReEncrypt through every
//   path, at each size, in-flight count and HSM count (matrix.ts);
// - token-bucket: the cost and accuracy of the cluster rate limiter;
// - memory: RSS and heap of the facade over a long run;
// - processes (--processes N): N serving processes against N C loops.
// Results go to bench/results/<timestamp>.json, and a full run also rewrites
// BENCHMARKS.md.
// The library is imported from dist/, the tsc output that the package ships,
// which the npm script compiles first. Sources run through tsx pay for its
// transform on every call: it names each closure with Object.defineProperty.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCLoop } from './c-loop.js';
import { REPOSITORY_ROOT, runChild } from './child-process.js';
import { IDLE_LOAD_AVERAGE, describeMachine, describeVersions, loadAverages } from './machine.js';
import { runMatrix } from './matrix.js';
import type { MemoryReading, MemoryTask } from './memory.js';
import { runProcessesSection } from './multi-process.js';
import { parseOptions, type BenchPlan } from './options.js';
import { renderMarkdownDocument, renderTextReport } from './report/document.js';
import { writeResults, type BenchResults } from './results.js';
import { runTokenBucketSection } from './token-bucket/section.js';
import { provisionBenchTokens, type BenchTokens } from './token-set.js';

/** Tokens of every run: two, so one- and two-HSM figures come from the same token set. */
const TOKEN_COUNT = 2;

const RESULTS_DIR = join(REPOSITORY_ROOT, 'bench', 'results');

function progress(line: string): void {
  process.stdout.write(`  ${line}\n`);
}

/** Prints the section's name, runs it and prints how long it took. */
async function timedSection(name: string, body: () => Promise<void>): Promise<void> {
  process.stdout.write(`${name}\n`);
  const started = performance.now();
  await body();
  progress(`${name} took ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

function commandLine(args: string[]): string {
  if (process.env.npm_lifecycle_event === 'bench') {
    return args.length > 0 ? `npm run bench -- ${args.join(' ')}` : 'npm run bench';
  }
  return ['npx tsx bench/run.ts', ...args].join(' ');
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * V8 enlarges its young generation in steps under a sustained allocation
 * rate, and RSS follows. These flags fix each semi-space at 16 MiB, the
 * largest size V8 grew it to in default runs of this benchmark, so that a
 * second memory run shows the engine's own growth.
 */
const FIXED_YOUNG_GENERATION_FLAGS = ['--min-semi-space-size=16', '--max-semi-space-size=16'];

async function runMemorySection(
  plan: BenchPlan,
  tokens: BenchTokens,
  workDir: string,
  v8Flags: string[],
  failures: string[],
): Promise<BenchResults['memory']> {
  const task: MemoryTask = {
    kind: 'memory',
    context: {
      modulePath: tokens.modulePath,
      confPath: tokens.confPath,
      tokenLabels: [tokens.tokenLabels[0]!],
      pin: tokens.pin,
      workDir: join(workDir, 'memory'),
    },
    inFlight: plan.memory.inFlight,
    warmupOperations: plan.memory.warmupOperations,
    checkpoints: plan.memory.checkpoints,
  };
  // Generous: 1 ms per operation, far slower than any path measured.
  const timeoutMs = 120_000 + Math.max(...plan.memory.checkpoints);
  try {
    const readings = await runChild<MemoryReading[]>(task, {
      env: { SOFTHSM2_CONF: tokens.confPath },
      nodeOptions: ['--expose-gc', ...v8Flags],
      timeoutMs,
    });
    return { path: 'facade', inFlight: plan.memory.inFlight, v8Flags, readings };
  } catch (error) {
    failures.push(`memory section: ${errorText(error)}`);
    return undefined;
  }
}

async function prepareWrappingKeys(tokens: BenchTokens): Promise<void> {
  await runChild(
    { kind: 'wrapping-key', modulePath: tokens.modulePath, tokenLabels: tokens.tokenLabels, soPin: tokens.soPin },
    { env: { SOFTHSM2_CONF: tokens.confPath }, timeoutMs: 60_000 },
  );
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const plan = parseOptions(args, REPOSITORY_ROOT);
  if (!plan) return;

  const started = new Date();
  const startedMs = performance.now();
  const loadAverageAtStart = loadAverages();
  let busyMachineWarning: string | undefined;
  if (loadAverageAtStart[0] > IDLE_LOAD_AVERAGE) {
    busyMachineWarning = `the machine was not idle: 1-minute load average ${loadAverageAtStart[0].toFixed(2)} at start (above ${IDLE_LOAD_AVERAGE}); figures may be lower and noisier than on an idle machine`;
    process.stderr.write(`WARNING: ${busyMachineWarning}\n`);
  }
  const machine = describeMachine();
  const versions = describeVersions();

  const runDir = mkdtempSync(join(tmpdir(), 'hsm-kms-bench-'));
  const failures: string[] = [];
  const results: BenchResults = {
    formatVersion: 1,
    startedAt: started.toISOString(),
    finishedAt: '',
    durationSeconds: 0,
    command: commandLine(args),
    plan,
    machine,
    versions,
    loadAverageAtStart,
    loadAverageAtEnd: loadAverageAtStart,
    busyMachineWarning,
    cells: [],
    failures,
  };

  try {
    process.stdout.write(`hsm-kms benchmark (${plan.mode}), working in ${runDir}\n`);
    const tokens = provisionBenchTokens(join(runDir, 'softhsm'), TOKEN_COUNT);
    buildCLoop();
    // A cluster of two HSMs needs the cluster wrapping key on both tokens.
    await prepareWrappingKeys(tokens);

    if (plan.sections.includes('matrix')) {
      await timedSection('Matrix', async () => {
        results.cells = await runMatrix({ plan, tokens, workDir: join(runDir, 'data'), progress });
        for (const cell of results.cells) {
          if (cell.status !== 'failed') continue;
          failures.push(`${cell.path} ${cell.operation} ${cell.bytes} B, ${cell.hsms} HSM(s), ${cell.inFlight} in flight: ${cell.reason}`);
        }
      });
    }
    if (plan.sections.includes('token-bucket')) {
      await timedSection('Token bucket', async () => {
        const bucketDir = join(runDir, 'token-bucket');
        mkdirSync(bucketDir);
        try {
          results.tokenBucket = await runTokenBucketSection(plan, bucketDir);
        } catch (error) {
          failures.push(`token-bucket section: ${errorText(error)}`);
        }
      });
    }
    if (plan.sections.includes('memory')) {
      await timedSection('Memory', async () => {
        results.memory = await runMemorySection(plan, tokens, join(runDir, 'data'), [], failures);
        results.memoryFixedYoungGeneration = await runMemorySection(
          plan,
          tokens,
          join(runDir, 'data-fixed-young-generation'),
          FIXED_YOUNG_GENERATION_FLAGS,
          failures,
        );
      });
    }
    if (plan.sections.includes('processes')) {
      await timedSection(`Processes (${plan.processes})`, async () => {
        try {
          results.processes = await runProcessesSection({ plan, tokens, workDir: join(runDir, 'processes'), progress });
        } catch (error) {
          failures.push(`processes section: ${errorText(error)}`);
        }
      });
    }
  } finally {
    if (plan.keep) {
      process.stdout.write(`kept ${runDir}\n`);
    } else {
      rmSync(runDir, { recursive: true, force: true });
    }
  }

  results.finishedAt = new Date().toISOString();
  results.durationSeconds = (performance.now() - startedMs) / 1000;
  results.loadAverageAtEnd = loadAverages();

  process.stdout.write(`\n${renderTextReport(results)}`);
  const jsonPath = writeResults(results, RESULTS_DIR);
  process.stdout.write(`Results: ${jsonPath}\n`);
  if (plan.markdownPath) {
    writeFileSync(plan.markdownPath, renderMarkdownDocument(results));
    process.stdout.write(`Markdown: ${plan.markdownPath}\n`);
  }
  if (failures.length > 0) process.exitCode = 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
