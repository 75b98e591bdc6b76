// Next.js ambient types (CSS modules, images) for the type-check of a clean clone, where the
// generated next-env.d.ts does not exist yet.
/// <reference types="next" />
