// The security headers of every page. Scripts run only from this app (each page's inline
// bootstrap carries a per-request nonce; 'strict-dynamic' lets those scripts load the app's
// chunks and Stripe.js) and from Stripe's origins; frames only from Stripe (the card fields);
// nobody may frame our pages. In local mode the Stripe.js stand-in's origin takes Stripe's place.

export interface SecurityHeaderOptions {
  nonce: string;
  supabaseUrl: string;
  /** The local Stripe (stand-in and API) when running without real Stripe keys. */
  localStripeUrl: string | null;
  production: boolean;
}

const STRIPE_SCRIPTS = ['https://js.stripe.com', 'https://*.js.stripe.com'];
const STRIPE_FRAMES = ['https://js.stripe.com', 'https://*.js.stripe.com', 'https://hooks.stripe.com'];
const STRIPE_CONNECT = ['https://api.stripe.com', 'https://m.stripe.network'];

export function contentSecurityPolicy({ nonce, supabaseUrl, localStripeUrl, production }: SecurityHeaderOptions): string {
  const local = localStripeUrl ? [new URL(localStripeUrl).origin] : [];
  const supabase = new URL(supabaseUrl).origin;
  const directives: Array<[string, string[]]> = [
    ['default-src', ["'self'"]],
    // 'unsafe-eval' only for the development server's hot reload.
    [
      'script-src',
      ["'self'", `'nonce-${nonce}'`, "'strict-dynamic'", ...STRIPE_SCRIPTS, ...local, ...(production ? [] : ["'unsafe-eval'"])],
    ],
    ['frame-src', [...STRIPE_FRAMES, ...local]],
    ['connect-src', ["'self'", supabase, ...STRIPE_CONNECT, ...local]],
    ['img-src', ["'self'", 'data:', 'https://*.stripe.com']],
    // React's style attributes and Stripe's injected styles.
    ['style-src', ["'self'", "'unsafe-inline'"]],
    ['font-src', ["'self'"]],
    ['object-src', ["'none'"]],
    ['base-uri', ["'self'"]],
    ['form-action', ["'self'"]],
    ['frame-ancestors', ["'none'"]],
  ];
  return directives.map(([name, sources]) => `${name} ${sources.join(' ')}`).join('; ');
}

export function securityHeaders(options: SecurityHeaderOptions): Record<string, string> {
  return {
    'content-security-policy': contentSecurityPolicy(options),
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'strict-origin-when-cross-origin',
    'x-frame-options': 'DENY',
    'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(self "https://js.stripe.com")',
    ...(options.production ? { 'strict-transport-security': 'max-age=63072000; includeSubDomains' } : {}),
  };
}

/** A fresh nonce for one response. */
export function newNonce(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64');
}
