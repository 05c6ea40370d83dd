// Provisioning of local SoftHSM2 tokens: one token stands for one HSM. Every
// token set lives under its own folder with its own softhsm2.conf, so the
// system configuration (/etc/softhsm) and the user's ~/.config are never read
// or changed. SoftHSM2 reads the file named by SOFTHSM2_CONF once, at
// C_Initialize, so a process must set that variable before it loads the
// module (see `softHsmEnvironment`).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { debuglog } from 'node:util';

const log = debuglog('hsm-kms');

/** Paths where distributions install the SoftHSM2 PKCS#11 module. */
const MODULE_CANDIDATES = [
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib64/pkcs11/libsofthsm2.so',
  '/usr/local/lib/softhsm/libsofthsm2.so',
  '/opt/homebrew/lib/softhsm/libsofthsm2.so',
];

/** SoftHSM2 stores token labels in a 32-byte field. */
const MAX_TOKEN_LABEL_BYTES = 32;

export interface SoftHsmInstallation {
  modulePath: string;
  utilPath: string;
}

export interface ProvisionOptions {
  /** Folder for softhsm2.conf and the token files; created if missing. */
  dir: string;
  /** One label per token (HSM) to create; existing tokens are kept. */
  tokenLabels: string[];
  /** PIN of the crypto user on every token (4 to 255 bytes). */
  userPin: string;
  /** PIN of the security officer on every token (4 to 255 bytes). */
  soPin: string;
}

export interface SoftHsmTokenSet {
  dir: string;
  confPath: string;
  modulePath: string;
  tokenLabels: string[];
}

/** Returns the SoftHSM2 module path, or undefined when none is installed. */
export function findSoftHsmModule(): string | undefined {
  const fromEnvironment = process.env.HSM_KMS_SOFTHSM_MODULE;
  if (fromEnvironment) {
    return existsSync(fromEnvironment) ? fromEnvironment : undefined;
  }
  return MODULE_CANDIDATES.find((candidate) => existsSync(candidate));
}

function findSoftHsmUtil(): string | undefined {
  for (const folder of ['/usr/bin', '/usr/local/bin', '/opt/homebrew/bin']) {
    const candidate = join(folder, 'softhsm2-util');
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Finds SoftHSM2, installing the Debian package `softhsm2` with apt-get when it
 * is missing and this process runs as root. Throws when it is missing and
 * cannot be installed from here.
 */
export function ensureSoftHsmInstalled(): SoftHsmInstallation {
  let modulePath = findSoftHsmModule();
  let utilPath = findSoftHsmUtil();
  if (modulePath && utilPath) return { modulePath, utilPath };

  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || !existsSync('/usr/bin/apt-get')) {
    throw new Error(
      'SoftHSM2 is not installed: install the Debian package softhsm2 ' +
        '(sudo apt-get install softhsm2), or set HSM_KMS_SOFTHSM_MODULE to the path of libsofthsm2.so',
    );
  }

  log('installing the Debian package softhsm2 with apt-get');
  const aptEnvironment = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    execFileSync('apt-get', ['install', '-y', '-q', 'softhsm2'], { env: aptEnvironment, stdio: 'pipe' });
  } catch {
    // A fresh machine has no package lists yet; fetch them and try once more.
    execFileSync('apt-get', ['update', '-q'], { env: aptEnvironment, stdio: 'pipe' });
    execFileSync('apt-get', ['install', '-y', '-q', 'softhsm2'], { env: aptEnvironment, stdio: 'pipe' });
  }

  modulePath = findSoftHsmModule();
  utilPath = findSoftHsmUtil();
  if (!modulePath || !utilPath) {
    throw new Error('apt-get installed softhsm2, but libsofthsm2.so or softhsm2-util was not found in the usual paths');
  }
  return { modulePath, utilPath };
}

/** Returns the environment a process needs to load the token set's SoftHSM2 configuration. */
export function softHsmEnvironment(tokenSet: Pick<SoftHsmTokenSet, 'confPath'>): Record<string, string> {
  return { SOFTHSM2_CONF: tokenSet.confPath };
}

function validateLabel(label: string): void {
  const bytes = Buffer.byteLength(label, 'utf8');
  if (bytes === 0 || bytes > MAX_TOKEN_LABEL_BYTES) {
    throw new RangeError(
      `Invalid token label "${label}": a SoftHSM2 label has 1 to ${MAX_TOKEN_LABEL_BYTES} bytes of UTF-8; choose a shorter one`,
    );
  }
}

/** SoftHSM2 accepts PINs of 4 to 255 bytes. */
function validatePin(pin: string, name: string): void {
  const bytes = typeof pin === 'string' ? Buffer.byteLength(pin, 'utf8') : 0;
  if (bytes < 4 || bytes > 255) {
    throw new RangeError(`Invalid ${name}: a SoftHSM2 PIN has 4 to 255 bytes; choose one of that length`);
  }
}

function listTokenLabels(utilPath: string, env: NodeJS.ProcessEnv): Set<string> {
  const output = execFileSync(utilPath, ['--show-slots'], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const labels = new Set<string>();
  for (const match of output.matchAll(/^\s*Label:\s*(.*?)\s*$/gm)) {
    if (match[1]) labels.add(match[1]);
  }
  return labels;
}

/**
 * Creates (or completes) a set of SoftHSM2 tokens under `options.dir`: writes
 * `dir/softhsm2.conf` pointing at `dir/tokens`, then initialises every label
 * that does not exist yet with the given PINs. Returns what a PKCS#11 client
 * needs to reach the tokens.
 */
export function provisionSoftHsm(options: ProvisionOptions): SoftHsmTokenSet {
  options.tokenLabels.forEach(validateLabel);
  validatePin(options.userPin, 'userPin');
  validatePin(options.soPin, 'soPin');
  const { modulePath, utilPath } = ensureSoftHsmInstalled();

  const dir = resolve(options.dir);
  const tokenDir = join(dir, 'tokens');
  mkdirSync(tokenDir, { recursive: true, mode: 0o700 });
  const confPath = join(dir, 'softhsm2.conf');
  if (!existsSync(confPath)) {
    writeFileSync(
      confPath,
      [
        '# Written by hsm-kms for this token set only.',
        `directories.tokendir = ${tokenDir}`,
        'objectstore.backend = file',
        'log.level = ERROR',
        'slots.removable = false',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
  }

  const env = { ...process.env, SOFTHSM2_CONF: confPath };
  const existing = listTokenLabels(utilPath, env);
  for (const label of options.tokenLabels) {
    if (existing.has(label)) continue;
    // NOTE: softhsm2-util takes the PINs as arguments, so they are visible in
    // the process list for the few milliseconds the command runs.
    try {
      execFileSync(
        utilPath,
        ['--init-token', '--free', '--label', label, '--so-pin', options.soPin, '--pin', options.userPin],
        { env, stdio: 'pipe' },
      );
    } catch (error) {
      // The error of execFileSync quotes the command line, PINs included, so
      // only the tool's own output is passed on.
      const output = String((error as { stderr?: Buffer }).stderr ?? '').trim() || 'no output';
      throw new Error(`softhsm2-util could not create token "${label}" in ${tokenDir}: ${output}`);
    }
    log('created SoftHSM2 token %s in %s', label, tokenDir);
  }

  return { dir, confPath, modulePath, tokenLabels: [...options.tokenLabels] };
}
