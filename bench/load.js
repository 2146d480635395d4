'use strict';
// A closed-loop load generator for the overload run, where wrk cannot help: it keeps the
// latencies of each status apart (the answered requests' p99 must stay under the deadline
// while the excess is refused). `connections` loops, each on its own keep-alive connection.
//
// It speaks just enough HTTP/1.1 itself (one request written from bytes made once, answers
// framed by Content-Length or chunked): it shares the machine's cores with the servers it
// measures, and Node's HTTP client cost as much CPU per request as the service answering it.
const net = require('node:net');

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const HEAD_END = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');

/**
 * Reads answers off one connection's bytes: `push(chunk)` returns the answers completed so far,
 * each `{ status, close }` (close: the server asked to close the connection).
 */
function responseReader() {
  let buffered = Buffer.alloc(0);
  let head = null;
  return function push(chunk) {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    const answers = [];
    for (;;) {
      if (!head) {
        const end = buffered.indexOf(HEAD_END);
        if (end < 0) return answers;
        const lines = buffered.subarray(0, end).toString('latin1').split('\r\n');
        const headers = {};
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(':');
          headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        head = { status: Number(lines[0].split(' ')[1]), headers };
        buffered = buffered.subarray(end + HEAD_END.length);
      }
      const bodyEnd = bodyLength(head.headers, buffered);
      if (bodyEnd < 0) return answers;
      buffered = buffered.subarray(bodyEnd);
      answers.push({ status: head.status, close: /close/i.test(head.headers.connection ?? '') });
      head = null;
    }
  };
}

/** Where the body in `buffered` ends, or -1 while it is incomplete. */
function bodyLength(headers, buffered) {
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    return buffered.length >= length ? length : -1;
  }
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    let offset = 0;
    for (;;) {
      const lineEnd = buffered.indexOf(CRLF, offset);
      if (lineEnd < 0) return -1;
      const size = parseInt(buffered.subarray(offset, lineEnd).toString('latin1'), 16);
      const next = lineEnd + 2 + size + 2;
      if (buffered.length < next) return -1;
      if (size === 0) return next;
      offset = next;
    }
  }
  return 0;
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
async function runLoad({
  url,
  body,
  connections,
  seconds,
  warmupSeconds = 0,
  maxWarmupSeconds = 60,
  lateMs = Infinity,
  onWindow = () => {},
}) {
  const target = new URL(url);
  const port = Number(target.port || 80);
  const payload = Buffer.from(body);
  const request = Buffer.concat([
    Buffer.from(
      `POST ${target.pathname} HTTP/1.1\r\nHost: ${target.host}\r\nContent-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n`,
      'latin1',
    ),
    payload,
  ]);
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

  /** One loop: a connection sending a request as soon as the previous one is answered. */
  function loop() {
    return new Promise((resolve) => {
      let answered = false;
      const connect = () => {
        const opened = performance.now();
        const socket = net.connect({ host: target.hostname, port });
        socket.setNoDelay(true);
        const read = responseReader();
        let sentAt = 0;
        let fresh = true;
        let done = false;
        const send = () => {
          sentAt = performance.now();
          socket.write(request);
        };
        const finish = (reconnect) => {
          if (done) return;
          done = true;
          socket.destroy();
          if (reconnect && performance.now() < measureUntil) connect();
          else resolve();
        };
        socket.once('connect', () => {
          handshakeMaxMs = Math.max(handshakeMaxMs, performance.now() - opened);
          send();
        });
        socket.on('data', (chunk) => {
          for (const { status, close } of read(chunk)) {
            const now = performance.now();
            const ms = now - sentAt;
            if (fresh) firstAnswerMaxMs = Math.max(firstAnswerMaxMs, ms);
            if (sentAt >= measureFrom && sentAt < measureUntil) {
              counts[status] = (counts[status] ?? 0) + 1;
              (latencies[status] ??= []).push(ms);
              if (ms > lateMs) late.push({ status, ms, sentAtMs: sentAt - measureFrom, newConnection: fresh });
              if (![200, 429, 503, 504].includes(status)) other++;
            }
            fresh = false;
            if (!answered) {
              answered = true;
              answeredLoops++;
            }
            if (close || now >= measureUntil) return finish(close);
            send();
          }
        });
        socket.on('error', () => {
          if (sentAt >= measureFrom && sentAt < measureUntil) errors++;
          // Not at once: a server that refuses connections would have this loop spin.
          setTimeout(() => finish(true), 10);
        });
        socket.on('close', (hadError) => {
          if (!hadError) finish(true);
        });
      };
      connect();
    });
  }

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
  await Promise.all(Array.from({ length: connections }, loop));
  await warmedUp;
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
