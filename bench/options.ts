// Command-line options of `npm run bench` and the plan they produce.
import { parseArgs } from 'node:util';
import type { Timing } from './scenario.js';
import { OPERATIONS, PATHS, type Operation, type PathName } from './workloads.js';

export const SECTIONS = ['matrix', 'token-bucket', 'memory', 'processes'] as const;
export type Section = (typeof SECTIONS)[number];

export interface BenchPlan {
  mode: 'full' | 'quick';
  sections: Section[];
  timing: Timing;
  operations: Operation[];
  paths: PathName[];
  sizes: number[];
  inFlight: number[];
  hsmCounts: number[];
  /** One child process per path, HSM count and operation; otherwise per path and HSM count. */
  childPerOperation: boolean;
  /** Run the C loop once more than `timing.samples` and drop the first run as warm-up. */
  cLoopWarmupRun: boolean;
  /** Serving processes of the multi-process section. */
  processes: number;
  memory: { warmupOperations: number; checkpoints: number[]; inFlight: number };
  tokenBucket: {
    tinybenchMilliseconds: number;
    iterationsPerThread: number;
    accuracySeconds: number;
    accuracyRequestsPerSecond: number;
    accuracyBurst: number;
    nativeIterations: number;
  };
  /** Keep the temporary token set and data folders. */
  keep: boolean;
  /** Markdown file to rewrite, or undefined to write none. */
  markdownPath: string | undefined;
}

/**
 * The full run: the whole matrix, about 300 cells. Medians of 7 samples of
 * 1 s would make it last about 40 minutes. So each figure is the median of 5
 * samples of 0.3 s, after 0.2 s of warm-up, and the run takes about 10
 * minutes on a 2-core machine.
 */
const FULL: Omit<BenchPlan, 'sections' | 'processes' | 'keep' | 'markdownPath' | 'paths' | 'operations'> = {
  mode: 'full',
  timing: { warmupSeconds: 0.2, samples: 5, sampleSeconds: 0.3 },
  sizes: [32, 1024, 4096],
  inFlight: [1, 16, 256],
  hsmCounts: [1, 2],
  childPerOperation: true,
  cLoopWarmupRun: true,
  memory: { warmupOperations: 10_000, checkpoints: [100_000, 1_000_000, 2_000_000], inFlight: 16 },
  tokenBucket: {
    tinybenchMilliseconds: 1000,
    iterationsPerThread: 10_000_000,
    accuracySeconds: 1,
    accuracyRequestsPerSecond: 10_000,
    accuracyBurst: 10,
    nativeIterations: 20_000_000,
  },
};

/**
 * The quick run: under a minute on a 2-core machine, with one size, one
 * in-flight count and one HSM, one child process per path, and no warm-up
 * run of the C loop.
 */
const QUICK: typeof FULL = {
  mode: 'quick',
  timing: { warmupSeconds: 0.1, samples: 3, sampleSeconds: 0.5 },
  sizes: [32],
  inFlight: [16],
  hsmCounts: [1],
  childPerOperation: false,
  cLoopWarmupRun: false,
  memory: { warmupOperations: 10_000, checkpoints: [100_000], inFlight: 16 },
  tokenBucket: {
    tinybenchMilliseconds: 100,
    iterationsPerThread: 1_000_000,
    accuracySeconds: 0.25,
    accuracyRequestsPerSecond: 10_000,
    accuracyBurst: 10,
    nativeIterations: 2_000_000,
  },
};

export const USAGE = `Usage: npm run bench -- [options]

Runs the hsm-kms benchmarks on a new SoftHSM2 token set and writes
bench/results/<timestamp>.json and BENCHMARKS.md.

Options:
  --quick               one size (32 B), 16 in flight, one HSM, 3 samples of 0.5 s
  --processes N         add the multi-process section: N engine processes against N C-loop processes
  --sections LIST       sections to run, from ${SECTIONS.join(', ')}
                        (default: all but processes; --processes adds it)
  --paths LIST          paths of the matrix, from ${PATHS.join(', ')}
  --operations LIST     operations, from ${OPERATIONS.join(', ')}
  --sizes LIST          payload sizes in bytes
  --in-flight LIST      requests in flight
  --hsms LIST           HSM counts, from 1, 2
  --samples N           samples per figure (the figure is their median)
  --seconds S           length of one sample in seconds
  --warmup S            warm-up before the samples of each figure, in seconds
  --markdown PATH       Markdown file to rewrite (default BENCHMARKS.md for a full run,
                        none for --quick; "none" writes none)
  --keep                keep the temporary token set and data folders
  --help                print this text`;

function parseList<T extends string>(text: string, allowed: readonly T[], name: string): T[] {
  const items = text.split(',').map((item) => item.trim()).filter(Boolean);
  const invalid = items.find((item) => !allowed.includes(item as T));
  if (invalid !== undefined || items.length === 0) {
    throw new RangeError(`Invalid --${name} "${text}": use a comma-separated list from ${allowed.join(', ')}`);
  }
  return items as T[];
}

function parseNumbers(text: string, name: string, { integer, minimum, maximum }: { integer: boolean; minimum: number; maximum: number }): number[] {
  const values = text.split(',').map((item) => Number(item.trim()));
  const valid = values.length > 0 && values.every((value) => Number.isFinite(value) && value >= minimum && value <= maximum && (!integer || Number.isInteger(value)));
  if (!valid) {
    throw new RangeError(`Invalid --${name} "${text}": use ${integer ? 'integers' : 'numbers'} from ${minimum} to ${maximum}, separated by commas`);
  }
  return values;
}

function parseOne(text: string, name: string, limits: { integer: boolean; minimum: number; maximum: number }): number {
  const values = parseNumbers(text, name, limits);
  if (values.length !== 1) throw new RangeError(`Invalid --${name} "${text}": give one value`);
  return values[0]!;
}

/** Parses the command line. Returns undefined after printing the usage for --help. */
export function parseOptions(argv: string[], repositoryRoot: string): BenchPlan | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      processes: { type: 'string' },
      sections: { type: 'string' },
      paths: { type: 'string' },
      operations: { type: 'string' },
      sizes: { type: 'string' },
      'in-flight': { type: 'string' },
      hsms: { type: 'string' },
      samples: { type: 'string' },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      markdown: { type: 'string' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return undefined;
  }

  const base = values.quick ? QUICK : FULL;
  const processes = values.processes === undefined ? 0 : parseOne(values.processes, 'processes', { integer: true, minimum: 1, maximum: 16 });
  let sections: Section[] = values.sections
    ? parseList(values.sections, SECTIONS, 'sections')
    : ['matrix', 'token-bucket', 'memory'];
  if (processes > 0 && !sections.includes('processes')) sections = [...sections, 'processes'];
  if (sections.includes('processes') && processes === 0) {
    throw new RangeError('The processes section needs --processes N, the number of serving processes');
  }

  const timing = { ...base.timing };
  if (values.samples !== undefined) timing.samples = parseOne(values.samples, 'samples', { integer: true, minimum: 1, maximum: 100 });
  if (values.seconds !== undefined) timing.sampleSeconds = parseOne(values.seconds, 'seconds', { integer: false, minimum: 0.05, maximum: 60 });
  if (values.warmup !== undefined) timing.warmupSeconds = parseOne(values.warmup, 'warmup', { integer: false, minimum: 0, maximum: 60 });

  // BENCHMARKS.md records full runs, so a quick run leaves it alone unless
  // --markdown names a file.
  const markdown = values.markdown ?? (values.quick ? 'none' : `${repositoryRoot}/BENCHMARKS.md`);
  return {
    ...base,
    sections,
    timing,
    operations: values.operations ? parseList(values.operations, OPERATIONS, 'operations') : [...OPERATIONS],
    paths: values.paths ? parseList(values.paths, PATHS, 'paths') : [...PATHS],
    sizes: values.sizes ? parseNumbers(values.sizes, 'sizes', { integer: true, minimum: 1, maximum: 4096 }) : base.sizes,
    inFlight: values['in-flight'] ? parseNumbers(values['in-flight'], 'in-flight', { integer: true, minimum: 1, maximum: 4096 }) : base.inFlight,
    hsmCounts: values.hsms ? parseNumbers(values.hsms, 'hsms', { integer: true, minimum: 1, maximum: 2 }) : base.hsmCounts,
    processes,
    keep: values.keep,
    markdownPath: markdown === 'none' ? undefined : markdown,
  };
}
