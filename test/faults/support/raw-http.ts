import net from 'node:net';

/** One hand-made HTTP/1.1 request: bytes exactly as given (bad UTF-8, odd paths, no normalisation). */
export interface RawRequest {
  method: string;
  /** Sent as is: may hold %-escapes, dot segments, raw bytes (latin1). */
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
}

export interface RawResponse {
  status: number;
  /** The response bytes read (head and the start of the body), latin1. */
  text: string;
}

/**
 * Sends `req` to 127.0.0.1:`port` on its own connection and resolves with the
 * status of the answer. A server may answer (413, 400) before the body is
 * all sent and close: the status it sent is what counts. Status 0 means the
 * connection closed or timed out without any answer.
 */
export function rawRequest(port: number, req: RawRequest, timeoutMs = 30_000): Promise<RawResponse> {
  return new Promise((resolve) => {
    const body = req.body === undefined ? undefined : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body, 'utf8');
    const headers: Record<string, string> = { host: `127.0.0.1:${port}`, connection: 'close', ...req.headers };
    if (body) headers['content-length'] ??= String(body.length);
    const head = `${req.method} ${req.path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`;
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(got);
      resolve({ status: m ? Number(m[1]) : 0, text: got.slice(0, 4096) });
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      // Head and a bit of body are enough to judge the answer.
      if (/\r\n\r\n/.test(got) && got.length > 512) finish();
    });
    socket.on('end', finish);
    socket.on('close', finish);
    socket.on('error', finish);
    socket.write(Buffer.from(head, 'latin1'));
    if (body) void writeBody(socket, body, () => got.length > 0 || settled);
  });
}

/**
 * Writes the body in chunks, waiting for each to drain, and stops as soon as
 * an answer has come: a server refusing a 5 MB body (413, 401, 404) answers
 * early and closes, and a client still pushing bytes then gets a TCP reset
 * that discards the answer it had not read yet. curl stops the same way.
 */
async function writeBody(socket: net.Socket, body: Buffer, answered: () => boolean): Promise<void> {
  const CHUNK = 64 * 1024;
  for (let at = 0; at < body.length && !answered(); at += CHUNK) {
    if (socket.destroyed) return;
    if (!socket.write(body.subarray(at, at + CHUNK))) {
      await new Promise<void>((resolve) => {
        const done = () => {
          socket.off('drain', done);
          socket.off('close', done);
          resolve();
        };
        socket.once('drain', done);
        socket.once('close', done);
      });
    }
  }
}
