import { Agent, IncomingHttpHeaders, request } from 'node:http';

export interface HttpOutcome {
  /** 0 when no answer came (the error says why). */
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  error?: string;
}

/** An outcome in a line: its status and the start of its body, or the error when none came. */
export function outcomeText(outcome: HttpOutcome, length = 120): string {
  return `${outcome.status} ${(outcome.error ?? outcome.body).slice(0, length)}`;
}

/**
 * One HTTP/1.1 request with Node's client, on `agent` when given (keep-alive), a body sent as
 * JSON. Never throws: a connection that fails or drops gives status 0 and the error.
 */
export function send(
  url: string,
  options: { method?: string; body?: string; headers?: Record<string, string>; agent?: Agent } = {},
): Promise<HttpOutcome> {
  const { method = 'GET', body, headers = {}, agent } = options;
  const target = new URL(url);
  return new Promise((resolve) => {
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method,
        agent,
        headers:
          body === undefined ? headers : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', (error) => resolve({ status: 0, headers: {}, body: '', error: error.message }));
    req.end(body);
  });
}
