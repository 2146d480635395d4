'use strict';
// Renders nginx/nginx.conf for a local run (the integration tests, the benchmark): loopback
// upstreams and listen address, and every path under one working folder. Only the lines
// marked "rendered" in nginx.conf change; everything else is the deployed configuration.
const { spawn, spawnSync } = require('node:child_process');
const { mkdirSync, readFileSync, writeFileSync, existsSync } = require('node:fs');
const { join } = require('node:path');

const SOURCE = join(__dirname, 'nginx.conf');

/**
 * @param {object} options
 * @param {string} options.dir            working folder (pid, logs, temp files, the rendered config)
 * @param {number} options.port           port to listen on, on 127.0.0.1
 * @param {number[]} options.upstreams    loopback ports of the replicas
 * @param {string} [options.rate]         per-client rate, e.g. "500r/s"; the deployed one if unset
 * @param {number|false} [options.burst]  per-client burst; false turns the per-client limits (rate
 *                                        and connections) off, for load that comes from one address
 * @param {boolean} [options.bufferedLog] buffer the access log (for load runs)
 * @param {string[]} [options.trustedProxies] addresses or ranges whose X-Forwarded-For is believed
 *                                        (what a file under /etc/nginx/trusted-proxies/ would list)
 * @returns {string} the path of the rendered config
 */
function renderLocalConfig({ dir, port, upstreams, rate, burst, bufferedLog = false, trustedProxies = [] }) {
  mkdirSync(dir, { recursive: true });
  let rendered = 0;
  const lines = readFileSync(SOURCE, 'utf8')
    .split('\n')
    .map((line) => {
      if (!line.includes('# rendered')) return line;
      rendered++;
      const indent = line.match(/^\s*/)[0];
      const text = line.trim();
      if (text.startsWith('pid ')) return `${indent}pid ${join(dir, 'nginx.pid')};`;
      if (text.startsWith('error_log ')) return `${indent}error_log ${join(dir, 'error.log')} warn;`;
      if (/^\w+_temp_path /.test(text)) {
        const [directive, path] = text.split(/\s+/);
        return `${indent}${directive} ${join(dir, path.replace(/^\/tmp\//, '').replace(/;$/, ''))};`;
      }
      if (text.startsWith('access_log ')) {
        return `${indent}access_log ${join(dir, 'access.log')} json${bufferedLog ? ' buffer=64k flush=1s' : ''};`;
      }
      if (text.startsWith('limit_req_zone ')) return rate ? `${indent}${text.replace(/rate=\S+;.*$/, `rate=${rate};`)}` : line;
      if (text.startsWith('limit_req ')) {
        if (burst === false) return `${indent}# limit_req off for this run`;
        return burst === undefined ? line : `${indent}limit_req zone=per_client burst=${burst} nodelay;`;
      }
      if (text.startsWith('limit_conn ')) return burst === false ? `${indent}# limit_conn off for this run` : line;
      if (text.startsWith('server api:')) {
        const options = text.replace(/^server \S+\s*/, '').replace(/;.*$/, '');
        return upstreams.map((p) => `${indent}server 127.0.0.1:${p} ${options};`).join('\n');
      }
      if (text.startsWith('listen ')) return `${indent}listen 127.0.0.1:${port};`;
      if (text.startsWith('include /etc/nginx/trusted-proxies/')) {
        if (trustedProxies.length === 0) return `${indent}# no trusted proxy for this run`;
        return trustedProxies.map((range) => `${indent}set_real_ip_from ${range};`).join('\n');
      }
      throw new Error(`nginx.conf has a rendered line this renderer does not know: ${text}`);
    });
  if (rendered === 0) throw new Error('nginx.conf has no rendered lines');
  const path = join(dir, 'nginx.conf');
  writeFileSync(path, lines.join('\n'));
  return path;
}

/** The nginx binary, or null when it is not installed. */
function nginxBinary() {
  for (const candidate of ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx']) {
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

/** `nginx -t` on a rendered config; throws with nginx's output when it fails. */
function checkConfig(configPath, dir) {
  const result = spawnSync(nginxBinary(), ['-t', '-q', '-p', dir, '-c', configPath], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`nginx -t failed: ${result.stderr}`);
}

/** Starts nginx in the foreground on a rendered config; stop it with child.kill('SIGQUIT'). */
function startNginx(configPath, dir) {
  checkConfig(configPath, dir);
  return spawn(nginxBinary(), ['-p', dir, '-c', configPath, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
}

module.exports = { renderLocalConfig, nginxBinary, checkConfig, startNginx, SOURCE };
