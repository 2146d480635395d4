'use strict';
// A closed-loop load generator for the overload run, where wrk cannot help: it keeps the
// latencies of each status apart (the answered requests' p99 must stay under the deadline
// while the excess is refused). `connections` loops, each on its own keep-alive socket.
const http = require('node:http');

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * `lateMs`: answers slower than this are also listed one by one (status, latency, when the
 * request was sent, whether it was the first on a new connection, how long that connect took).
 */
async function runLoad({ url, body, connections, seconds, lateMs = Infinity }) {
  const target = new URL(url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const latencies = {};
  const counts = {};
  let errors = 0;
  let other = 0;
  const until = Date.now() + seconds * 1000;
  const t0 = performance.now();
  const late = [];
  const once = () =>
    new Promise((resolve) => {
      const started = performance.now();
      let connected = null;
      const req = http.request(
        { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          res.resume();
          res.on('end', () => {
            const status = res.statusCode;
            counts[status] = (counts[status] ?? 0) + 1;
            const ms = performance.now() - started;
            (latencies[status] ??= []).push(ms);
            if (ms > lateMs) late.push({ status, ms, sentAtMs: started - t0, newConnection: !req.reusedSocket, connectMs: connected === null ? null : connected - started });
            if (![200, 503, 504].includes(status)) other++;
            resolve();
          });
        },
      );
      req.on('socket', (socket) => {
        if (socket.connecting) socket.once('connect', () => (connected = performance.now()));
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(body);
    });
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (Date.now() < until) await once();
    }),
  );
  agent.destroy();
  const p50 = {};
  const p99 = {};
  for (const [status, values] of Object.entries(latencies)) {
    values.sort((a, b) => a - b);
    p50[status] = percentile(values, 50);
    p99[status] = percentile(values, 99);
  }
  return { counts, p50, p99, errors, other, late };
}

module.exports = { runLoad };
