// A path on this site to send the browser to after sign-in, or to link to from stored data:
// one leading slash, no second slash or backslash after it (browsers read `//x` and `/\x` as
// another host), no whitespace or control characters.
export const SAFE_LOCAL_PATH = /^\/(?![/\\])[^\s\\\u0000-\u001f]*$/;

export const safeLocalPath = (value: string | null | undefined, fallback = '/') =>
  value && SAFE_LOCAL_PATH.test(value) ? value : fallback;
