'use strict';
// wrk for the benchmarks: a POST script that ends with lua/report.lua, and one run read back.
const { execFileSync } = require('node:child_process');
const { readFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

/** Writes `<dir>/<name>.lua`: POST `body` to `path` with `headers`, reporting through lua/report.lua. */
function luaPost(dir, name, path, body, headers = { 'Content-Type': 'application/json' }) {
  const file = join(dir, `${name}.lua`);
  const report = readFileSync(join(__dirname, 'lua', 'report.lua'), 'utf8');
  const lines = Object.entries(headers).map(([key, value]) => `wrk.headers[${luaString(key)}] = ${luaString(String(value))}\n`);
  writeFileSync(file, `wrk.method = "POST"\nwrk.path = ${JSON.stringify(path)}\nwrk.body = ${luaString(body)}\n${lines.join('')}${report}`);
  return file;
}

/** A Lua string literal of text or bytes: printable ASCII as is, every other byte as a decimal escape. */
function luaString(body) {
  let out = '"';
  for (const byte of Buffer.from(body)) {
    out += byte >= 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x5c ? String.fromCharCode(byte) : `\\${String(byte).padStart(3, '0')}`;
  }
  return `${out}"`;
}

/** One wrk run; returns req/s, p50/p99 in ms, non-2xx and socket errors. */
function wrk(url, script, conns, seconds) {
  const threads = Math.min(2, conns);
  const out = execFileSync('wrk', [`-t${threads}`, `-c${conns}`, `-d${seconds}s`, '--latency', '-s', script, url], {
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  });
  const line = out.split('\n').find((l) => l.startsWith('BENCH_RESULT'));
  if (!line) throw new Error(`wrk printed no result:\n${out}`);
  const fields = Object.fromEntries(
    line
      .split(' ')
      .slice(1)
      .map((kv) => kv.split('=').map((v, i) => (i ? Number(v) : v))),
  );
  return {
    requests: fields.requests,
    rps: fields.requests / (fields.duration_us / 1e6),
    p50: fields.p50_us / 1000,
    p99: fields.p99_us / 1000,
    non2xx: fields.non2xx,
    errors: fields.connect + fields.read + fields.write + fields.timeout,
  };
}

module.exports = { luaPost, wrk };
