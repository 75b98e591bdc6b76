import 'server-only';
import { env } from '@/lib/env';

// Browser-side configuration handed to client components at request time (not inlined at build
// time), so one build runs against local services and production alike.
export interface PublicConfig {
  supabaseUrl: string;
  supabaseAnonKey: string;
  stripePublishableKey: string;
}

export function publicConfig(): PublicConfig {
  const config = env();
  return {
    supabaseUrl: config.NEXT_PUBLIC_SUPABASE_URL,
    supabaseAnonKey: config.NEXT_PUBLIC_SUPABASE_ANON_KEY,
    stripePublishableKey: config.STRIPE_PUBLISHABLE_KEY,
  };
}
