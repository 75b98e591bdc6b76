-- HTTP hardening (issue 15): rate limits per client address, and the billing email last sent
-- to Stripe so an unchanged POST /api/payments/customers makes no Stripe write.

-- address_rate_limits: fixed-window counters per client address (sign-up, top-up intents,
-- subscriptions), beside the per-account ones in rate_limits, so many fresh accounts from one
-- address share one budget. Rows older than a day are useless and may be deleted.
-- Owner: system. Readers: nobody but the system.
create table public.address_rate_limits (
  address      text not null,
  action       text not null,
  window_start timestamptz not null,
  hits         integer not null default 1,
  primary key (address, action, window_start)
);
comment on table public.address_rate_limits is 'Owner: system (rate limiter). Readers: nobody but the system.';
alter table public.address_rate_limits enable row level security;
revoke all on public.address_rate_limits from anon, authenticated;

-- Counts one hit for (address, action) in the current window, as hit_rate_limit does per user.
create or replace function app_private.hit_address_rate_limit(
  p_address text, p_action text, p_window_seconds int, p_limit int,
  out allowed boolean, out hits int, out retry_after_seconds int
) language plpgsql as $$
declare
  current_window timestamptz := to_timestamp(floor(extract(epoch from now()) / p_window_seconds) * p_window_seconds);
begin
  insert into public.address_rate_limits as r (address, action, window_start, hits)
    values (p_address, p_action, current_window, 1)
    on conflict on constraint address_rate_limits_pkey do update set hits = r.hits + 1
    returning r.hits into hits;
  allowed := hits <= p_limit;
  retry_after_seconds := greatest(1, ceil(extract(epoch from (current_window + make_interval(secs => p_window_seconds) - now())))::int);
end $$;

-- users.billing_email: the email the Stripe customer was last updated with (null: never).
alter table public.users add column billing_email text;
