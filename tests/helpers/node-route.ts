import { createServer, request as send, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// A Pages Router API route (what Next.js serves for pages/api/*) behind a real HTTP server in
// this process, called like a fetch handler: a Request in, a Response out. The request goes over
// a real socket with its URL's host as the Host header, so the route reads it as it would from
// Next.js.

type NodeHandler = (request: IncomingMessage, response: ServerResponse) => Promise<void>;
type FetchHandler = (request: Request) => Promise<Response>;

export interface ServedNodeRoute {
  /** The server's own address (http://127.0.0.1:<port>). */
  url: string;
  call: FetchHandler;
  close(): Promise<void>;
}

export async function serveNodeRoute(handler: NodeHandler): Promise<ServedNodeRoute> {
  const server = createServer((request, response) => void handler(request, response));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const call = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const body = request.body ? Buffer.from(await request.arrayBuffer()) : undefined;
    const headers: Record<string, string> = { host: url.host };
    request.headers.forEach((value, name) => (headers[name] = value));
    if (body) headers['content-length'] = String(body.byteLength);
    return new Promise((resolve, reject) => {
      const outgoing = send({ host: '127.0.0.1', port, method: request.method, path: url.pathname + url.search, headers }, (incoming) => {
        const chunks: Buffer[] = [];
        incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
        incoming.on('end', () => {
          const answer = new Headers();
          for (const [name, value] of Object.entries(incoming.headers))
            if (value !== undefined) answer.set(name, Array.isArray(value) ? value.join(', ') : value);
          const text = Buffer.concat(chunks);
          resolve(new Response(text.byteLength ? text : null, { status: incoming.statusCode, headers: answer }));
        });
        incoming.on('error', reject);
      });
      outgoing.on('error', reject);
      outgoing.end(body);
    });
  };
  return {
    url: `http://127.0.0.1:${port}`,
    call,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
