#!/usr/bin/env node
// npm start and npm test are the only two commands a fresh clone needs: install from the
// lockfile first when node_modules is missing or older than package-lock.json.
const { spawnSync } = require('node:child_process');
const { statSync } = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const mtime = (file) => {
  try {
    return statSync(path.join(root, file)).mtimeMs;
  } catch {
    return 0;
  }
};
if (mtime('node_modules/.package-lock.json') < mtime('package-lock.json')) {
  console.error('installing dependencies from package-lock.json (npm ci)');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const result = spawnSync(npm, ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  process.exit(result.status ?? 1);
}
