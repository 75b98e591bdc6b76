import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// The app's route handlers behind a real HTTP server in this process, as Next.js serves them:
// real sockets, real request bodies and headers. A fault hook lets a test answer for the app
// (a 503), hang, drop the connection before the app sees the request, or let the app do the
// work and then drop its answer (the case where a blind retry would count twice).

type Handler = (request: Request, context: { params: Promise<Record<string, string>> }) => Promise<Response>;
export type Fault = 'pass' | 'hang' | 'drop' | 'drop-after' | { status: number; body: unknown };

export interface SeenRequest {
  path: string;
  body: string;
}

export interface AppServer {
  url: string;
  seen: SeenRequest[];
  /** Decides each request's fate (nth: its number among `seen` on that path); `pass` unless set. */
  fault: (request: SeenRequest, nth: number) => Fault;
  close(): Promise<void>;
}

const readBody = (req: IncomingMessage) =>
  new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });

export async function startAppServer(routes: Record<string, Handler>): Promise<AppServer> {
  const app: AppServer = { url: '', seen: [], fault: () => 'pass', close: async () => undefined };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    const path = (req.url ?? '/').split('?')[0]!;
    const seen = { path, body: body.toString('utf8') };
    app.seen.push(seen);
    const nth = app.seen.filter((request) => request.path === path).length;
    const fault = app.fault(seen, nth);
    if (fault === 'hang') return;
    if (fault === 'drop') return void req.socket.destroy();
    if (typeof fault === 'object')
      return void res.writeHead(fault.status, { 'content-type': 'application/json' }).end(JSON.stringify(fault.body));
    const handler = routes[path];
    if (!handler) return void res.writeHead(404).end('{"error":{"code":"not_found","message":"Not found"}}');
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers.set(name, value);
    const response = await handler(
      new Request(`http://127.0.0.1${req.url}`, { method: req.method, headers, body: body.length ? new Uint8Array(body) : undefined }),
      {
        params: Promise.resolve({}),
      },
    );
    if (fault === 'drop-after') return void req.socket.destroy();
    res.writeHead(response.status, { 'content-type': 'application/json' }).end(await response.text());
  };
  const server: Server = createServer((req, res) => void handle(req, res));
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  app.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  app.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return app;
}
