-- Payments: invoices mirrored from Stripe, refunds on payment attempts, per-user rate limits for
-- the endpoints that create Stripe objects, and the webhook inbox's bookkeeping.
-- Same conventions as the foundation: RLS on every table, money as integers, system writes.

-- ---------------------------------------------------------------------------------------------
-- invoices: local copy of the user's Stripe invoices (subscription first payments, renewals,
-- prorations), kept in step by the invoice webhooks and reconcile. Shown in payment history.
-- Owner: system. Readers: the user themself.
create table public.invoices (
  id                text primary key,                -- Stripe's in_...
  user_id           uuid not null references public.users (id) on delete cascade,
  subscription_id   text,
  status            text not null check (status in ('draft', 'open', 'paid', 'uncollectible', 'void')),
  billing_reason    text,
  amount_due_cents  integer not null check (amount_due_cents >= 0),
  amount_paid_cents integer not null default 0 check (amount_paid_cents >= 0),
  currency          text not null default 'usd',
  period_start      timestamptz,
  period_end        timestamptz,
  attempt_count     integer not null default 0,
  failure_message   text,
  stripe_created    timestamptz not null,
  paid_at           timestamptz,
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now()
);
comment on table public.invoices is 'Owner: system (Stripe webhooks, reconcile). Readers: the user themself.';
create index invoices_user_idx on public.invoices (user_id, stripe_created desc);
create trigger invoices_touch before update on public.invoices
  for each row execute function app_private.touch_updated_at();
alter table public.invoices enable row level security;
revoke all on public.invoices from anon, authenticated;
grant select on public.invoices to authenticated;
create policy invoices_select_own on public.invoices for select to authenticated
  using (user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------------
-- payment_attempts: refunds are recorded on the attempt (the credit it bought is not taken back;
-- see README), and the plan a subscription attempt was for.
alter table public.payment_attempts
  add column refunded_cents integer not null default 0 check (refunded_cents >= 0),
  add column succeeded_at timestamptz,
  add constraint payment_attempts_refund_le_amount check (refunded_cents <= amount_cents);
-- Reuse of a still-payable intent (a double click) looks up the user's recent open attempts.
create index payment_attempts_open_idx on public.payment_attempts (user_id, amount_cents, created_at)
  where status in ('pending', 'failed');

-- ---------------------------------------------------------------------------------------------
-- rate_limits: fixed-window request counters for actions that create Stripe objects (card
-- testing protection). Rows older than a day are useless and may be deleted by housekeeping.
-- Owner: system. Readers: nobody but the system.
create table public.rate_limits (
  user_id      uuid not null references public.users (id) on delete cascade,
  action       text not null,
  window_start timestamptz not null,
  hits         integer not null default 1,
  primary key (user_id, action, window_start)
);
comment on table public.rate_limits is 'Owner: system (rate limiter). Readers: nobody but the system.';
alter table public.rate_limits enable row level security;
revoke all on public.rate_limits from anon, authenticated;

-- Counts one hit for (user, action) in the current window of p_window_seconds and says whether
-- it is within p_limit. One atomic statement, so concurrent requests cannot slip past the limit.
create or replace function app_private.hit_rate_limit(
  p_user uuid, p_action text, p_window_seconds int, p_limit int,
  out allowed boolean, out hits int, out retry_after_seconds int
) language plpgsql as $$
declare
  current_window timestamptz := to_timestamp(floor(extract(epoch from now()) / p_window_seconds) * p_window_seconds);
begin
  insert into public.rate_limits as r (user_id, action, window_start, hits)
    values (p_user, p_action, current_window, 1)
    on conflict on constraint rate_limits_pkey do update set hits = r.hits + 1
    returning r.hits into hits;
  allowed := hits <= p_limit;
  retry_after_seconds := greatest(1, ceil(extract(epoch from (current_window + make_interval(secs => p_window_seconds) - now())))::int);
end $$;

-- ---------------------------------------------------------------------------------------------
-- subscriptions: the Stripe subscription item (needed to change its price) and the price.
alter table public.subscriptions
  add column stripe_item_id text,
  add column stripe_customer_id text;

-- webhook_events: who it concerns (for operators), and fast lookup of failed events to replay.
alter table public.webhook_events add column user_id uuid;

-- Starts the paid period `[p_start, p_end)` of a subscription when its first or a renewal
-- invoice is paid (the invoice is recorded as paid before this is called). The period moves
-- forward only, except off a period no paid invoice covers (a row first created from Stripe's
-- state while a renewal was unpaid), so late, repeated or reordered invoice events all end at
-- the newest paid period. Returns whether the period moved. The new period's user_usage row
-- starts empty: usage of the old period stays on the old row (nothing is "reset" or lost).
create or replace function app_private.start_paid_period(
  p_subscription text, p_start timestamptz, p_end timestamptz, p_actor text, p_invoice text
) returns boolean language plpgsql as $$
declare
  sub public.subscriptions;
begin
  update public.subscriptions s
    set current_period_start = p_start, current_period_end = p_end
    where s.id = p_subscription and s.current_period_start <> p_start
      and (s.current_period_start < p_start
           or not exists (select 1 from public.invoices i
                          where i.subscription_id = s.id and i.status = 'paid' and i.period_start = s.current_period_start))
    returning * into sub;
  if not found then
    return false;
  end if;
  insert into public.audit_log (user_id, actor, action, entity_type, entity_id, details)
    values (sub.user_id, p_actor, 'usage_period.started', 'subscription', p_subscription,
            jsonb_build_object('periodStart', p_start, 'periodEnd', p_end, 'invoice', p_invoice, 'planId', sub.plan_id));
  return true;
end $$;

-- Order of invoice states: a mirrored invoice never moves to a lower rank (late events).
create or replace function app_private.invoice_status_rank(p_status text) returns int
language sql immutable as $$
  select case p_status when 'draft' then 0 when 'open' then 1 when 'uncollectible' then 2 else 3 end
$$;
