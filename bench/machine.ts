// What a benchmark result depends on besides the code: the machine, the
// versions of the software under the engine, and how busy the machine was.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, loadavg, release, totalmem, type } from 'node:os';
import { dirname, join } from 'node:path';

export interface MachineInfo {
  cpuModel: string;
  /** Logical processors the process may use. */
  cores: number;
  memoryBytes: number;
  kernel: string;
}

export interface SoftwareVersions {
  node: string;
  /** OpenSSL inside Node.js, which node:crypto uses. */
  nodeOpenssl: string;
  /** The system's OpenSSL (`openssl version`), whose libcrypto Debian's SoftHSM2 links. */
  systemOpenssl: string;
  /** `softhsm2-util --version`. */
  softhsm2: string;
  pkcs11js: string;
  tinybench: string;
  /** First line of `cc --version`, the compiler of the C loop. */
  cCompiler: string;
}

/** 1-minute load average above which the run warns that the machine is not idle. */
export const IDLE_LOAD_AVERAGE = 0.5;

export function describeMachine(): MachineInfo {
  return {
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    memoryBytes: totalmem(),
    kernel: `${type()} ${release()}`,
  };
}

/** Runs a version command and returns its first output line, or why it failed. */
function commandVersion(command: string, args: string[]): string {
  try {
    const output = execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
    return output.trim().split('\n')[0] ?? '';
  } catch (error) {
    return `unknown (${command} ${args.join(' ')} failed: ${(error as Error).message.split('\n')[0]})`;
  }
}

/** Reads the version of an installed npm package from its package.json. */
function packageVersion(name: string): string {
  const require = createRequire(import.meta.url);
  let folder: string;
  try {
    folder = dirname(require.resolve(name));
  } catch {
    return 'not installed';
  }
  // Walk up from the entry point to the package's own package.json.
  for (;;) {
    const candidate = join(folder, 'package.json');
    if (existsSync(candidate)) {
      const manifest = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
      if (manifest.name === name) return manifest.version ?? 'unknown';
    }
    const parent = dirname(folder);
    if (parent === folder) return 'unknown';
    folder = parent;
  }
}

export function describeVersions(): SoftwareVersions {
  return {
    node: process.versions.node,
    nodeOpenssl: process.versions.openssl,
    systemOpenssl: commandVersion('openssl', ['version']),
    softhsm2: commandVersion('softhsm2-util', ['--version']),
    pkcs11js: packageVersion('pkcs11js'),
    tinybench: packageVersion('tinybench'),
    cCompiler: commandVersion(process.env.CC || 'cc', ['--version']),
  };
}

/** Returns the 1-, 5- and 15-minute load averages. */
export function loadAverages(): [number, number, number] {
  const [one, five, fifteen] = loadavg();
  return [one!, five!, fifteen!];
}
