// Stripe's request encoding: `application/x-www-form-urlencoded` with bracket
// notation for nesting (`metadata[userId]=u1`, `items[0][price]=p`,
// `expand[]=customer`). Decoded into a plain tree; objects whose keys are all
// indices become arrays.

export type FormValue = string | FormValue[] | FormObject;
export interface FormObject {
  [key: string]: FormValue;
}

/** Splits `a[b][0][]` into `['a', 'b', '0', '']`. */
function keySegments(key: string): string[] {
  const open = key.indexOf('[');
  if (open <= 0) return [key];
  const segments = [key.slice(0, open)];
  const rest = key.slice(open);
  const re = /\[([^\]]*)\]/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(rest)) !== null) segments.push(m[1] ?? '');
  return segments;
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part.replace(/\+/g, ' '));
  } catch {
    return part;
  }
}

function assign(root: FormObject, segments: string[], value: string): void {
  let node: FormObject = root;
  for (let i = 0; i < segments.length; i++) {
    let seg = segments[i] ?? '';
    // `expand[]=a&expand[]=b`: an empty segment appends at the next index.
    if (seg === '') seg = String(Object.keys(node).length);
    if (i === segments.length - 1) {
      node[seg] = value;
      return;
    }
    const next = node[seg];
    if (typeof next === 'object' && next !== null && !Array.isArray(next)) {
      node = next;
    } else {
      const child: FormObject = {};
      node[seg] = child;
      node = child;
    }
  }
}

function isIndexKey(key: string): boolean {
  return /^\d+$/.test(key);
}

/** Objects keyed only by indices (`items[0]`, `items[1]`) become arrays, in index order. */
function arrayify(value: FormValue): FormValue {
  if (typeof value === 'string' || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  for (const k of keys) value[k] = arrayify(value[k] as FormValue);
  if (keys.length > 0 && keys.every(isIndexKey)) {
    return keys.sort((a, b) => Number(a) - Number(b)).map((k) => value[k] as FormValue);
  }
  return value;
}

export function parseForm(body: string): FormObject {
  const root: FormObject = {};
  for (const pair of body.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = decode(eq === -1 ? pair : pair.slice(0, eq));
    const value = eq === -1 ? '' : decode(pair.slice(eq + 1));
    if (key === '') continue;
    assign(root, keySegments(key), value);
  }
  const result = arrayify(root);
  return typeof result === 'object' && !Array.isArray(result) ? result : {};
}

/** Encodes a tree into Stripe's form encoding as the stripe SDK does (the fixture runner, tests). */
export function encodeForm(data: Record<string, unknown>): string {
  const pairs: string[] = [];
  const walk = (key: string, value: unknown): void => {
    if (value === undefined) return;
    if (value === null || typeof value !== 'object') {
      // eslint-disable-next-line @typescript-eslint/no-base-to-string -- a primitive here: objects are walked below
      pairs.push(`${encodeURIComponent(key)}=${encodeURIComponent(value === null ? '' : String(value))}`);
    } else if (Array.isArray(value)) {
      value.forEach((v, i) => walk(`${key}[${i}]`, v));
    } else {
      for (const [k, v] of Object.entries(value)) walk(`${key}[${k}]`, v);
    }
  };
  for (const [k, v] of Object.entries(data)) walk(k, v);
  // Brackets stay literal, byte for byte what the stripe SDK sends.
  return pairs.join('&').replace(/%5B/g, '[').replace(/%5D/g, ']');
}
