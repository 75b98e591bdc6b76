// The local Stripe's module graph: billing registers its hooks with the engine
// (billing/index.ts), so resources never import billing and no module imports
// itself back through others.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(__dirname, '../../local/stripe');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** Value imports (type-only imports vanish at runtime and cannot form a load cycle). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^import (?!type )[^;]*?from '(\.[^']+)'/gm)) {
    out.push(normalize(join(dirname(file), (m[1] ?? '').replace(/\.js$/, '.ts'))));
  }
  return out;
}

const graph = new Map(sources(ROOT).map((f) => [f, importsOf(f)]));
const rel = (f: string) => relative(ROOT, f);

describe('local/stripe module graph', () => {
  it('resources/ never imports billing/', () => {
    const bad = [...graph]
      .filter(([f]) => rel(f).startsWith('resources/'))
      .flatMap(([f, deps]) => deps.filter((d) => rel(d).startsWith('billing/')).map((d) => `${rel(f)} -> ${rel(d)}`));
    expect(bad).toEqual([]);
  });

  it('has no import cycle', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (f: string): void => {
      state.set(f, 'open');
      stack.push(f);
      for (const d of graph.get(f) ?? []) {
        if (state.get(d) === 'open') cycles.push([...stack.slice(stack.indexOf(d)), d].map(rel).join(' -> '));
        else if (!state.has(d)) visit(d);
      }
      stack.pop();
      state.set(f, 'done');
    };
    for (const f of graph.keys()) if (!state.has(f)) visit(f);
    expect(cycles).toEqual([]);
    expect(graph.size).toBeGreaterThan(30);
  });
});
