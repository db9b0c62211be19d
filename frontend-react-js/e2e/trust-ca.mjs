// Chromium that trusts one CA more (the sandbox's: `cargo xtask sandbox
// status` names its file) and nothing else changed: a fresh NSS database,
// made with certutil (Debian's libnss3-tools) inside the browser's own
// profile folder, is what Chromium on Linux reads from $HOME/.pki/nssdb; the
// browser is started with HOME pointing there. The CA is really trusted (no
// --ignore-certificate-errors): a certificate it did not sign still fails.

import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

function certutil(args) {
  const r = spawnSync('certutil', args, { encoding: 'utf8' });
  if (r.error?.code === 'ENOENT') {
    throw new Error('certutil is missing: apt-get install libnss3-tools (`cargo xtask test` does)');
  }
  if (r.status !== 0) {
    throw new Error(`certutil ${args[0]} failed: ${(r.stderr || r.stdout).trim()}`);
  }
}

/**
 * The environment to launch Chromium with so that it trusts `caFile`, its NSS
 * database made under `profile`; the process's own environment when no CA is given.
 */
export function envTrusting(caFile, profile) {
  if (!caFile) return process.env;
  const home = join(profile, 'nss-home');
  const db = `sql:${join(home, '.pki', 'nssdb')}`;
  mkdirSync(join(home, '.pki', 'nssdb'), { recursive: true });
  certutil(['-N', '-d', db, '--empty-password']);
  // C,,: a CA trusted to issue server certificates (TLS), nothing else.
  certutil(['-A', '-d', db, '-n', 'Cruddur sandbox CA', '-t', 'C,,', '-i', caFile]);
  return { ...process.env, HOME: home };
}
