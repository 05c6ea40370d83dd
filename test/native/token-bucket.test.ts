// The per-cluster rate limiter: rate, burst and exact counting.
import { execFile } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { tokenBucket } from '../../src/native.js';

const addonPath = process.env.HSM_KMS_ADDON ?? join(import.meta.dirname, '../../build/Release/hsm_kms.node');

/**
 * Runs `body` in a new Node.js process in which `bucket` is the shared
 * bucket of `path`, and resolves to what it writes to stdout. A child that
 * runs longer than 20 s is killed, so a hang fails the test.
 */
function runBucketChild(path: string, rate: number, burst: number, body: string): Promise<string> {
  const script = `
    const addon = require(${JSON.stringify(addonPath)});
    addon.setErrorClasses(class extends Error {}, class extends Error {});
    const bucket = new addon.TokenBucket('child', ${rate}, ${burst}, ${JSON.stringify(path)});
    ${body}
  `;
  return new Promise((resolve, reject) =>
    execFile(process.execPath, ['-e', script], { timeout: 20_000 }, (error, stdout) =>
      error ? reject(error) : resolve(stdout),
    ),
  );
}

describe('TokenBucket', () => {
  it('lets a full burst through at once, then nothing', () => {
    const bucket = tokenBucket('burst-test', 1, 50);
    let granted = 0;
    for (let attempt = 0; attempt < 1000; attempt++) {
      if (bucket.tryAcquire()) granted++;
    }
    // At 1 request/s, the next request is due a second after the burst.
    expect(granted).toBe(50);
    expect(bucket.stats()).toEqual({ granted: 50, rejected: 950, requestsPerSecond: 1, burst: 50 });
  });

  it('holds the configured rate within 5 % over 2 seconds', () => {
    const rate = 20_000;
    // A burst of 50 ms of traffic absorbs the moments when other test
    // processes take the CPU and this loop makes no attempts.
    const burst = 1_000;
    const bucket = tokenBucket('rate-test', rate, burst);
    const started = process.hrtime.bigint();
    let granted = 0;
    let elapsedSeconds = 0;
    while (elapsedSeconds < 2) {
      if (bucket.tryAcquire()) granted++;
      elapsedSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    }

    const measuredRate = (granted - burst) / elapsedSeconds;
    expect(measuredRate).toBeGreaterThan(rate * 0.95);
    expect(measuredRate).toBeLessThan(rate * 1.05);
  });

  it('grants the elapsed time times the rate', () => {
    // The burst is a second of traffic, longer than the wait, so the bucket
    // never runs idle. Every grant after the burst is one interval of the
    // bucket's clock between the first call and the last.
    const rate = 10_000;
    const burst = 10_000;
    const bucket = tokenBucket('elapsed-test', rate, burst);
    const beforeFirst = process.hrtime.bigint();
    let granted = bucket.tryAcquire() ? 1 : 0;
    const afterFirst = process.hrtime.bigint();
    while (bucket.tryAcquire()) granted++;
    while (process.hrtime.bigint() < afterFirst + 300_000_000n) {
      // Polls instead of sleeping, so that the wait does not depend on timers.
    }
    const beforeLast = process.hrtime.bigint();
    while (bucket.tryAcquire()) granted++;
    const afterLast = process.hrtime.bigint();

    // hrtime reads CLOCK_MONOTONIC, which the bucket's clock is calibrated
    // against. One grant of slack on each side covers the calibration error
    // (an estimated 5e-5 of 0.3 s, 0.15 grants).
    const seconds = (from: bigint, to: bigint) => Number(to - from) / 1e9;
    expect(granted).toBeGreaterThan(burst - 1 + seconds(afterFirst, beforeLast) * rate - 1);
    expect(granted).toBeLessThanOrEqual(burst + seconds(beforeFirst, afterLast) * rate + 1);
  });

  it('charges several requests at once', () => {
    const bucket = tokenBucket('count-test', 1, 10);
    expect(bucket.tryAcquire(8)).toBe(true);
    expect(bucket.tryAcquire(3)).toBe(false);
    expect(bucket.tryAcquire(2)).toBe(true);
    expect(bucket.stats().granted).toBe(10);
    expect(bucket.stats().rejected).toBe(3);
  });

  it('counts every attempt exactly under contention from two threads', async () => {
    const name = 'contention-test';
    const attempts = 200_000;
    const runWorker = () =>
      new Promise<number>((resolve, reject) => {
        const worker = new Worker(join(import.meta.dirname, 'fixtures/bucket-worker.mjs'), {
          workerData: { addonPath, name, rate: 50_000, burst: 100, attempts },
        });
        worker.once('message', resolve);
        worker.once('error', reject);
      });

    const [first, second] = await Promise.all([runWorker(), runWorker()]);

    const stats = tokenBucket(name, 50_000, 100).stats();
    expect(stats.granted + stats.rejected).toBe(2 * attempts);
    expect(stats.granted).toBe(first + second);
  });

  it('rejects a rate that is not positive', () => {
    expect(() => tokenBucket('bad-rate', 0, 1)).toThrow('Expected requestsPerSecond to be a number from 0.001 to 1e9');
  });
});

describe('TokenBucket edge cases', () => {
  it('rejects a count larger than the burst at any rate', () => {
    const bucket = tokenBucket('overflow-test', 0.5, 1);
    expect(bucket.tryAcquire(576_460_753)).toBe(false);
    expect(bucket.tryAcquire(2)).toBe(false);
    expect(bucket.stats().granted).toBe(0);
  });

  it('rejects a fractional count', () => {
    const bucket = tokenBucket('fraction-test', 10, 10);
    expect(() => bucket.tryAcquire(1.5)).toThrow('Expected count to be an integer from 1 to 1e9');
  });

  it('names the real minimum rate', () => {
    expect(() => tokenBucket('minimum-test', 0.0001, 1)).toThrow(
      'Expected requestsPerSecond to be a number from 0.001 to 1e9',
    );
  });
});

describe('TokenBucket shared between processes', () => {
  it('counts two processes against one rate', async () => {
    const path = join(mkdtempSync(join(process.env.HSM_KMS_TEST_ROOT!, 'bucket-')), 'shared.bucket');
    const body = `
      let granted = 0;
      for (let i = 0; i < 1000; i++) if (bucket.tryAcquire()) granted++;
      process.stdout.write(String(granted));
    `;
    const run = async () => Number(await runBucketChild(path, 1, 100, body));

    const first = await run();
    const second = await run();
    // A burst of 100 at 1 request/s: the first process takes it all, and the
    // second, a moment later, finds it spent.
    expect(first).toBe(100);
    expect(second).toBeLessThanOrEqual(2);
    expect(tokenBucket('shared-view', 1, 100, path).stats().granted).toBe(first + second);
  });

  it('opens a file that another process has mapped', async () => {
    // The header is checked under an flock. This process keeps the file
    // mapped, so a lock it did not release would make the child wait until
    // this process exits.
    const path = join(mkdtempSync(join(process.env.HSM_KMS_TEST_ROOT!, 'bucket-')), 'mapped.bucket');
    const parentBucket = tokenBucket('mapped', 1, 5, path);
    expect(parentBucket.tryAcquire()).toBe(true);

    const output = await runBucketChild(path, 1, 5, 'process.stdout.write(String(bucket.tryAcquire()));');
    expect(output).toBe('true');
    expect(parentBucket.stats().granted).toBe(2);
  });

  it('counts every attempt of two concurrent processes', async () => {
    const path = join(mkdtempSync(join(process.env.HSM_KMS_TEST_ROOT!, 'bucket-')), 'contended.bucket');
    // At 5e6 requests/s both processes are granted often, so grants race
    // each other and a lost update of the granted count would show.
    const attempts = 500_000;
    const body = `
      let granted = 0;
      for (let i = 0; i < ${attempts}; i++) if (bucket.tryAcquire()) granted++;
      process.stdout.write(String(granted));
    `;
    const run = async () => Number(await runBucketChild(path, 5_000_000, 100, body));

    const [first, second] = await Promise.all([run(), run()]);

    const stats = tokenBucket('contended-view', 5_000_000, 100, path).stats();
    expect(stats.granted + stats.rejected).toBe(2 * attempts);
    expect(stats.granted).toBe(first + second);
  });

  it('converts the rate with the clock rate in the file', () => {
    const directory = mkdtempSync(join(process.env.HSM_KMS_TEST_ROOT!, 'bucket-'));
    // The header is magic, clock source, clock rate and boot ID, 8 bytes
    // each, and the state follows: TAT, granted, interval, tolerance,
    // rejected.
    const probePath = join(directory, 'probe.bucket');
    tokenBucket('probe', 1, 1, probePath);
    const probe = readFileSync(probePath);

    // A file as another process would leave it, with the same clock source
    // but a clock rate that no calibration gives.
    const path = join(directory, 'adopted.bucket');
    const header = Buffer.alloc(24);
    probe.copy(header, 0, 0, 16);
    header.writeBigUInt64LE(1_000_000_000n, 16);
    writeFileSync(path, header);
    tokenBucket('adopted', 1_000, 10, path);

    const file = readFileSync(path);
    expect(file.readBigUInt64LE(16)).toBe(1_000_000_000n);
    expect(file.readBigUInt64LE(48)).toBe(1_000_000n);
    expect(file.readBigUInt64LE(56)).toBe(10_000_000n);
  });

  it('starts again from a state of an earlier boot', () => {
    // The header is magic, clock source, clock rate and boot ID, 8 bytes
    // each; the TAT is the first word of the state after it.
    const directory = mkdtempSync(join(process.env.HSM_KMS_TEST_ROOT!, 'bucket-'));
    const probePath = join(directory, 'probe.bucket');
    tokenBucket('boot-probe', 1, 2, probePath);
    const probe = readFileSync(probePath);
    const thisBoot = probe.readBigUInt64LE(24);
    expect(thisBoot).not.toBe(0n);

    // A file as a process of an earlier boot left it: another boot ID, and
    // a TAT far beyond the new clock.
    const path = join(directory, 'reboot.bucket');
    const file = Buffer.from(probe);
    file.writeBigUInt64LE(thisBoot ^ 1n, 24);
    file.writeBigUInt64LE(1n << 62n, 32);
    writeFileSync(path, file);

    const bucket = tokenBucket('reboot', 1, 2, path);
    expect(bucket.tryAcquire()).toBe(true);
    expect(bucket.tryAcquire()).toBe(true);
    expect(bucket.tryAcquire()).toBe(false);
    expect(readFileSync(path).readBigUInt64LE(24)).toBe(thisBoot);
  });

  it('keeps a TAT ahead of the clock within one boot', () => {
    // A TAT far ahead is not mistaken for an earlier boot's: a rate and
    // burst lowered while requests were queued leave one there, and the
    // bucket must keep rejecting until the clock catches up.
    const path = join(mkdtempSync(join(process.env.HSM_KMS_TEST_ROOT!, 'bucket-')), 'ahead.bucket');
    const bucket = tokenBucket('ahead', 1, 2, path);
    expect(bucket.tryAcquire()).toBe(true);
    const fd = openSync(path, 'r+');
    const tat = Buffer.alloc(8);
    tat.writeBigUInt64LE(1n << 62n);
    writeSync(fd, tat, 0, 8, 32);
    closeSync(fd);

    expect(bucket.tryAcquire()).toBe(false);
    expect(tokenBucket('ahead-reopened', 1, 2, path).tryAcquire()).toBe(false);
  });

  it('rejects a file of the earlier layout', () => {
    const path = join(mkdtempSync(join(process.env.HSM_KMS_TEST_ROOT!, 'bucket-')), 'earlier.bucket');
    const file = Buffer.alloc(48);
    file.writeBigUInt64LE(0x68736d6b6d736231n, 0);
    writeFileSync(path, file);
    expect(() => tokenBucket('earlier', 1, 1, path)).toThrow('contains a rate limit of an earlier hsm-kms version');
  });

  it('rejects a file that holds something else', () => {
    const path = join(mkdtempSync(join(process.env.HSM_KMS_TEST_ROOT!, 'bucket-')), 'other.bin');
    writeFileSync(path, Buffer.alloc(128, 7));
    expect(() => tokenBucket('other', 1, 1, path)).toThrow('does not hold an hsm-kms rate limit');
  });
});
