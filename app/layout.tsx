import { headers } from 'next/headers';
import type { ReactNode } from 'react';
import { env } from '@/lib/env';
import './globals.css';

export const metadata = { title: { default: 'Billing', template: '%s · Billing' } };

// With the local Stripe (no STRIPE_SECRET_KEY), its Stripe.js stand-in is loaded first, as a
// blocking script in <head>: @stripe/stripe-js then finds window.Stripe and loads nothing.
// With real keys nothing is added here and @stripe/stripe-js loads Stripe's own script.
function stripeStandInUrl(): string | null {
  const config = env();
  return config.STRIPE_SECRET_KEY ? null : `${config.STRIPE_API_BASE.replace(/\/+$/, '')}/js/stripe.js`;
}

export default async function RootLayout({ children }: { children: ReactNode }) {
  const standIn = stripeStandInUrl();
  // The per-request CSP nonce set by proxy.ts.
  const nonce = (await headers()).get('x-nonce') ?? undefined;
  return (
    <html lang="en">
      <head>
        {/* eslint-disable-next-line @next/next/no-sync-scripts -- the local Stripe.js stand-in loads as a plain script tag, as Stripe.js itself does */}
        {standIn ? <script src={standIn} nonce={nonce} /> : null}
      </head>
      <body>{children}</body>
    </html>
  );
}
