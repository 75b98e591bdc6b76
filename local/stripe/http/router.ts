import type { Engine } from '../engine.js';
import type { Params } from '../core/params.js';

export type Method = 'GET' | 'POST' | 'DELETE';

export interface RouteContext {
  engine: Engine;
  params: Params;
  /** `:name` segments of the route path. */
  path: Record<string, string>;
  /** Which key authenticated the call; publishable keys reach only `publishable` routes. */
  auth: 'secret' | 'publishable';
  expand: string[];
}

export interface Route {
  method: Method;
  /** e.g. `/v1/customers/:id`. */
  path: string;
  /** Reachable with a publishable key (the handler must then check the client secret). */
  publishable?: boolean;
  handler: (rc: RouteContext) => object;
}

interface Compiled {
  route: Route;
  segments: string[];
}

export class Router {
  private readonly compiled: Compiled[];

  constructor(routes: Route[]) {
    this.compiled = routes.map((route) => ({ route, segments: route.path.split('/').filter(Boolean) }));
  }

  /** The matching route; a literal segment wins over a `:param` (`/v1/invoices/create_preview` over `/v1/invoices/:id`). */
  match(method: string, pathname: string): { route: Route; path: Record<string, string> } | null {
    const parts = pathname.split('/').filter(Boolean);
    let best: { route: Route; path: Record<string, string>; params: number } | null = null;
    for (const { route, segments } of this.compiled) {
      if (route.method !== method || segments.length !== parts.length) continue;
      const path: Record<string, string> = {};
      const ok = segments.every((seg, i) => {
        const part = parts[i] ?? '';
        if (seg.startsWith(':')) {
          path[seg.slice(1)] = decodeURIComponent(part);
          return true;
        }
        return seg === part;
      });
      const params = segments.filter((seg) => seg.startsWith(':')).length;
      if (ok && (best === null || params < best.params)) best = { route, path, params };
    }
    return best ? { route: best.route, path: best.path } : null;
  }
}
