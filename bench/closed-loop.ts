// A closed-loop load generator: `inFlight` workers each keep one request
// outstanding, issuing the next as soon as the previous one settles. It
// records throughput per sample, the latency of every request, the
// event-loop delay and the CPU time the process used while the samples run.
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { createHistogram, monitorEventLoopDelay, performance } from 'node:perf_hooks';

/** Sends one request and settles when its response is complete. */
export type RequestFunction = () => Promise<unknown>;

export interface ClosedLoopOptions {
  /** Returns the request function of worker `index` (0 to inFlight - 1), called once per phase. */
  requestFor: (workerIndex: number) => RequestFunction;
  inFlight: number;
  /** Run before the samples and not recorded, so that JIT and caches settle. */
  warmupSeconds: number;
  samples: number;
  sampleSeconds: number;
}

export interface ClosedLoopResult {
  /** Operations per second of each sample. */
  samples: number[];
  /** Median of `samples`. */
  opsPerSecond: number;
  /** Latency percentiles over every request of every sample, in microseconds. */
  p50Microseconds: number;
  p99Microseconds: number;
  /** 99th percentile of the event-loop lag during the samples, in milliseconds (see EVENT_LOOP_RESOLUTION_MS). */
  eventLoopLagP99Milliseconds: number;
  /** 1-minute load average of the machine when the samples ended. */
  loadAverage: number;
  /** CPU time of the whole process (every thread) per completed request, in microseconds. */
  cpuMicrosecondsPerRequest: number;
  /**
   * CPU time of the main (JavaScript) thread as a percentage of the samples'
   * wall time. Near 100, the event loop itself is what limits the rate.
   * Undefined where /proc is not available.
   */
  mainThreadCpuPercent?: number;
}

/**
 * Sampling interval of monitorEventLoopDelay in ms. Each value it records is
 * the time between two timer callbacks, so an idle loop records about this
 * interval. The lag reported here is the recorded value minus it.
 */
const EVENT_LOOP_RESOLUTION_MS = 1;

/** Upper bound of the latency histogram in ns (one minute). Longer latencies are recorded as one minute. */
const MAX_RECORDED_NANOSECONDS = 60e9;

/** Clock ticks per second of the times in /proc/<pid>/task/<tid>/stat (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/**
 * Returns the CPU seconds (user and system) that the main thread has used,
 * from /proc, or undefined where it cannot be read. The main thread's
 * thread ID equals the process ID. Node.js 20 has no per-thread CPU API.
 */
function mainThreadCpuSeconds(): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    // The command name in field 2 may contain spaces, so fields are counted
    // after its closing parenthesis: utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks / USER_HZ : undefined;
  } catch {
    return undefined;
  }
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

interface Phase {
  completed: number;
  seconds: number;
}

type LatencyHistogram = ReturnType<typeof createHistogram>;

/**
 * Runs all workers until `seconds` have passed and every worker's last
 * request has settled. The rate counts requests completed over that whole
 * time, so the last requests' tail is included rather than dropped.
 */
async function runPhase(
  options: Pick<ClosedLoopOptions, 'requestFor' | 'inFlight'>,
  seconds: number,
  latencies?: LatencyHistogram,
): Promise<Phase> {
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let completed = 0;
  let failure: unknown;

  const worker = async (index: number): Promise<void> => {
    const request = options.requestFor(index);
    while (failure === undefined && performance.now() < deadline) {
      const requestStarted = performance.now();
      try {
        await request();
      } catch (error) {
        failure ??= error;
        return;
      }
      if (latencies) {
        const nanoseconds = Math.round((performance.now() - requestStarted) * 1e6);
        latencies.record(Math.min(Math.max(nanoseconds, 1), MAX_RECORDED_NANOSECONDS));
      }
      completed += 1;
    }
  };

  await Promise.all(Array.from({ length: options.inFlight }, (_, index) => worker(index)));
  if (failure !== undefined) throw failure;
  return { completed, seconds: (performance.now() - started) / 1000 };
}

/** Runs the workers for `seconds` without recording anything, so that JIT and caches settle. */
export async function warmUp(options: Pick<ClosedLoopOptions, 'requestFor' | 'inFlight'>, seconds: number): Promise<void> {
  await runPhase(options, seconds);
}

/** Runs the warm-up and then the samples, and summarises them. */
export async function runClosedLoop(options: ClosedLoopOptions): Promise<ClosedLoopResult> {
  if (!Number.isInteger(options.inFlight) || options.inFlight < 1) {
    throw new RangeError(`Invalid inFlight ${options.inFlight}: expected an integer of at least 1`);
  }
  if (options.warmupSeconds > 0) await warmUp(options, options.warmupSeconds);

  const latencies = createHistogram({ lowest: 1, highest: MAX_RECORDED_NANOSECONDS, figures: 3 });
  const eventLoopDelay = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS });
  const samples: number[] = [];
  let completed = 0;
  let seconds = 0;
  const cpuBefore = process.cpuUsage();
  const mainThreadBefore = mainThreadCpuSeconds();
  eventLoopDelay.enable();
  try {
    for (let sample = 0; sample < options.samples; sample++) {
      const phase = await runPhase(options, options.sampleSeconds, latencies);
      samples.push(phase.completed / phase.seconds);
      completed += phase.completed;
      seconds += phase.seconds;
    }
  } finally {
    eventLoopDelay.disable();
  }
  const cpu = process.cpuUsage(cpuBefore);
  const mainThreadAfter = mainThreadCpuSeconds();

  const lagNanoseconds = eventLoopDelay.percentile(99) - EVENT_LOOP_RESOLUTION_MS * 1e6;
  const result: ClosedLoopResult = {
    samples,
    opsPerSecond: median(samples),
    p50Microseconds: latencies.percentile(50) / 1000,
    p99Microseconds: latencies.percentile(99) / 1000,
    eventLoopLagP99Milliseconds: Math.max(0, lagNanoseconds) / 1e6,
    loadAverage: loadavg()[0]!,
    cpuMicrosecondsPerRequest: (cpu.user + cpu.system) / completed,
  };
  if (mainThreadBefore !== undefined && mainThreadAfter !== undefined && seconds > 0) {
    result.mainThreadCpuPercent = ((mainThreadAfter - mainThreadBefore) / seconds) * 100;
  }
  return result;
}

/**
 * Runs requests with `inFlight` outstanding until `count` have completed
 * in total. The memory benchmark uses it, because it measures after a fixed
 * number of operations rather than a fixed time.
 */
export async function runCount(requestFor: (workerIndex: number) => RequestFunction, inFlight: number, count: number): Promise<void> {
  let started = 0;
  const worker = async (index: number): Promise<void> => {
    const request = requestFor(index);
    while (started < count) {
      started += 1;
      await request();
    }
  };
  await Promise.all(Array.from({ length: inFlight }, (_, index) => worker(index)));
}
