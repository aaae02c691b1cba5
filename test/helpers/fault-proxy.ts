/**
 * A loopback reverse proxy in front of a plain-HTTP registry that injects faults into
 * chosen requests: a status (429 with Retry-After, 500…), a connection reset after N body
 * bytes, a body cut short after N bytes (chunked, cleanly ended), or one flipped byte.
 * It logs every request so tests can assert retries and Range resumption.
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';

export type Fault =
  | { kind: 'status'; status: number; headers?: Record<string, string> }
  | { kind: 'reset'; afterBytes: number }
  | { kind: 'truncate'; afterBytes: number }
  | { kind: 'flip'; atByte: number }
  /** Holds the response back, so that concurrent requests overlap. */
  | { kind: 'delay'; ms: number }
  /** Answers 307 to the same path under `base` (another host, like a CDN). */
  | { kind: 'redirect'; base: string };

export interface FaultRule {
  /** Matched against the request path. */
  path: RegExp;
  fault: Fault;
  /** How many matching requests get the fault (then they pass untouched). */
  times: number;
}

export interface LoggedRequest {
  method: string;
  path: string;
  range?: string;
  /** Whether the request carried an Authorization header. */
  authorization: boolean;
  /** The fault applied, if any. */
  fault?: Fault['kind'];
}

export interface FaultProxy {
  host: string;
  rules: FaultRule[];
  log: LoggedRequest[];
  /** Most requests in progress at once. */
  maxInFlight: number;
}

interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

/** Starts the proxy on 127.0.0.1 forwarding to `upstream` (`127.0.0.1:PORT`, plain HTTP). */
export async function startFaultProxy(t: Teardown, upstream: string): Promise<FaultProxy> {
  const proxy: FaultProxy = { host: '', rules: [], log: [], maxInFlight: 0 };
  let inFlight = 0;
  const [upstreamHost, upstreamPort] = upstream.split(':') as [string, string];
  const server = createServer((req, res) => {
    // Also serves as an HTTP_PROXY: absolute-form request targets name the origin.
    const target = new URL(req.url ?? '/', 'http://upstream');
    const path = `${target.pathname}${target.search}`;
    proxy.maxInFlight = Math.max(proxy.maxInFlight, ++inFlight);
    res.on('close', () => inFlight--);
    const rule = proxy.rules.find((r) => r.times > 0 && r.path.test(path));
    if (rule) rule.times--;
    const entry: LoggedRequest = { method: req.method ?? 'GET', path, authorization: req.headers.authorization !== undefined };
    if (req.headers.range) entry.range = req.headers.range;
    if (rule) entry.fault = rule.fault.kind;
    proxy.log.push(entry);
    if (rule?.fault.kind === 'status') {
      res.writeHead(rule.fault.status, { 'content-type': 'text/plain', ...rule.fault.headers }).end('injected fault\n');
      return;
    }
    if (rule?.fault.kind === 'redirect') {
      res.writeHead(307, { location: `${rule.fault.base}${path}` }).end();
      return;
    }
    const forward = () => {
      const upstreamReq = request(
        { host: upstreamHost, port: Number(upstreamPort), method: req.method, path, headers: req.headers },
        (upstreamRes) => relay(upstreamRes, res, rule?.fault),
      );
      upstreamReq.on('error', () => res.destroy());
      req.pipe(upstreamReq);
    };
    if (rule?.fault.kind === 'delay') setTimeout(forward, rule.fault.ms);
    else forward();
  });
  // As an HTTPS_PROXY: tunnel CONNECT to the requested loopback port, as a real proxy would.
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    proxy.log.push({ method: 'CONNECT', path: req.url ?? '', authorization: false });
    const [host, port] = (req.url ?? '').split(':');
    const upstreamSocket = connect(Number(port), host === '127.0.0.1' ? host : '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstreamSocket.write(head);
      upstreamSocket.pipe(client).pipe(upstreamSocket);
    });
    upstreamSocket.on('error', () => client.destroy());
    client.on('error', () => upstreamSocket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return proxy;
}

function relay(from: IncomingMessage, to: ServerResponse, fault: Fault | undefined): void {
  const headers = { ...from.headers };
  if (fault?.kind === 'truncate') delete headers['content-length'];
  to.writeHead(from.statusCode ?? 502, headers);
  let sent = 0;
  from.on('data', (chunk: Buffer) => {
    const start = sent;
    sent += chunk.length;
    if (fault?.kind === 'reset' || fault?.kind === 'truncate') {
      if (start >= fault.afterBytes) return;
      to.write(chunk.subarray(0, fault.afterBytes - start));
      if (sent >= fault.afterBytes) {
        if (fault.kind === 'reset') to.socket?.resetAndDestroy();
        else to.end();
        from.destroy();
      }
      return;
    }
    if (fault?.kind === 'flip' && fault.atByte >= start && fault.atByte < sent) {
      chunk = Buffer.from(chunk);
      chunk[fault.atByte - start] ^= 0xff;
    }
    to.write(chunk);
  });
  from.on('end', () => to.end());
}
