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
 * All `connections` loops start at once. The warm-up lasts `warmupSeconds`, and longer if need
 * be, until every loop has had an answer: a server only accepts so many new connections while
 * it is saturated, and the measured `seconds` that follow are then those of a server that holds
 * all of them. Only requests sent in the measured window count. What the warm-up took is
 * returned too: how long it lasted, the slowest first answer on a connection, and the slowest
 * TCP handshake (a handshake over a second would be a SYN dropped and sent again, the kernel's
 * retransmissions coming after 1, 3 and 7 s; a slow first answer after a fast handshake is a
 * connection waiting to be accepted, or its first request to be read).
 *
 * `lateMs`: measured answers slower than this are also listed one by one (status, latency, when
 * the request was sent, whether it was the first on a new connection).
 * `onWindow(phase)`: called with 'start' and 'end' of the measured window.
 */
async function runLoad({ url, body, connections, seconds, warmupSeconds = 0, maxWarmupSeconds = 60, lateMs = Infinity, onWindow = () => {} }) {
  const target = new URL(url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  // Encoded once: the load generator shares the machine with the servers it measures.
  const payload = Buffer.from(body);
  const headers = { 'content-type': 'application/json', 'content-length': payload.length };
  const latencies = {};
  const counts = {};
  let errors = 0;
  let other = 0;
  const t0 = performance.now();
  const late = [];
  let firstAnswerMaxMs = 0;
  let handshakeMaxMs = 0;
  let answeredLoops = 0;
  let measureFrom = Infinity;
  let measureUntil = Infinity;
  const once = () =>
    new Promise((resolve) => {
      const started = performance.now();
      const measured = started >= measureFrom && started < measureUntil;
      const req = http.request(
        { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers },
        (res) => {
          res.resume();
          res.on('end', () => {
            const ms = performance.now() - started;
            if (!req.reusedSocket) firstAnswerMaxMs = Math.max(firstAnswerMaxMs, ms);
            if (measured) {
              const status = res.statusCode;
              counts[status] = (counts[status] ?? 0) + 1;
              (latencies[status] ??= []).push(ms);
              if (ms > lateMs) late.push({ status, ms, sentAtMs: started - measureFrom, newConnection: !req.reusedSocket });
              if (![200, 429, 503, 504].includes(status)) other++;
            }
            resolve();
          });
        },
      );
      req.on('socket', (socket) => {
        if (!socket.connecting) return;
        const opened = performance.now();
        socket.once('connect', () => (handshakeMaxMs = Math.max(handshakeMaxMs, performance.now() - opened)));
      });
      req.on('error', () => {
        if (measured) errors++;
        resolve();
      });
      req.end(payload);
    });
  const warmedUp = new Promise((resolve) => {
    const minimum = setTimeout(check, warmupSeconds * 1000);
    const maximum = setTimeout(start, maxWarmupSeconds * 1000);
    function check() {
      if (measureFrom !== Infinity) return;
      if (answeredLoops === connections) start();
      else setTimeout(check, 50);
    }
    function start() {
      if (measureFrom !== Infinity) return;
      clearTimeout(minimum);
      clearTimeout(maximum);
      measureFrom = performance.now();
      measureUntil = measureFrom + seconds * 1000;
      onWindow('start');
      setTimeout(() => onWindow('end'), seconds * 1000);
      resolve();
    }
  });
  await Promise.all(
    Array.from({ length: connections }, async () => {
      await once();
      answeredLoops++;
      while (performance.now() < measureUntil) await once();
    }),
  );
  await warmedUp;
  agent.destroy();
  const p50 = {};
  const p99 = {};
  for (const [status, values] of Object.entries(latencies)) {
    values.sort((a, b) => a - b);
    p50[status] = percentile(values, 50);
    p99[status] = percentile(values, 99);
  }
  return { counts, p50, p99, errors, other, late, warmup: { seconds: (measureFrom - t0) / 1000, firstAnswerMaxMs, handshakeMaxMs } };
}

module.exports = { runLoad };
