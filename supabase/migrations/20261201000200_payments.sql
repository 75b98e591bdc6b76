-- Baseline, payments: payment attempts (the specification's table), invoices mirrored from
-- Stripe, paid periods, and the top-up webhook's one-statement path.

-- ---------------------------------------------------------------------------------------------
-- payment_attempts: the specification's table, one row per PaymentIntent we created, with what
-- was refunded of it and when it succeeded.
-- Owner: system. Readers: the user themself; admins (all rows).
create table public.payment_attempts (
  id                uuid primary key default gen_random_uuid(),
  user_id           uuid not null references public.users (id) on delete cascade,
  amount_cents      integer not null check (amount_cents > 0),
  payment_intent_id text unique,
  kind              text not null default 'usage_topup' check (kind in ('usage_topup', 'subscription')),
  status            text not null default 'pending' check (status in ('pending', 'succeeded', 'failed', 'canceled')),
  failure_code      text,
  failure_message   text,
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now(),
  refunded_cents    integer not null default 0 check (refunded_cents >= 0),
  succeeded_at      timestamptz,
  constraint payment_attempts_refund_le_amount check (refunded_cents <= amount_cents)
);
comment on table public.payment_attempts is
  'Owner: system (payments API, webhooks). Readers: the user themself; admins (all rows).';
create index payment_attempts_user_idx on public.payment_attempts (user_id, created_at desc);
-- Reuse of a still-payable intent (a double click) looks up the user's recent open attempts.
create index payment_attempts_open_idx on public.payment_attempts (user_id, amount_cents, created_at)
  where status in ('pending', 'failed');
create trigger payment_attempts_touch before update on public.payment_attempts
  for each row execute function app_private.touch_updated_at();
alter table public.payment_attempts enable row level security;
revoke all on public.payment_attempts from anon, authenticated;
grant select on public.payment_attempts to authenticated;
create policy payment_attempts_select_own on public.payment_attempts for select to authenticated
  using (user_id = (select auth.uid()));
create policy payment_attempts_select_admin on public.payment_attempts for select to authenticated
  using ((select app_private.is_admin()));

-- ---------------------------------------------------------------------------------------------
-- invoices: local copy of the user's Stripe invoices (subscription first payments, renewals,
-- prorations), kept in step by the invoice webhooks and reconcile. Shown in payment history.
-- Owner: system. Readers: the user themself; admins (all rows).
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
comment on table public.invoices is
  'Owner: system (Stripe webhooks, reconcile). Readers: the user themself; admins (all rows).';
create index invoices_user_idx on public.invoices (user_id, stripe_created desc);
create trigger invoices_touch before update on public.invoices
  for each row execute function app_private.touch_updated_at();
alter table public.invoices enable row level security;
revoke all on public.invoices from anon, authenticated;
grant select on public.invoices to authenticated;
create policy invoices_select_own on public.invoices for select to authenticated
  using (user_id = (select auth.uid()));
create policy invoices_select_admin on public.invoices for select to authenticated
  using ((select app_private.is_admin()));

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

-- ---------------------------------------------------------------------------------------------
-- The busiest webhook, payment_intent.succeeded for a usage top-up, in one statement: claim the
-- event in the inbox, settle the attempt, credit once, mark the event processed. One round
-- trip instead of eight (bench:webhooks), and atomic like any single statement: a failure
-- anywhere leaves nothing behind, and the caller records the failure.

-- Marks a top-up attempt succeeded and credits exactly what was received, once per intent.
-- Returns the user credited, or null when the intent is not a top-up of a user we know (the
-- user must exist and, once linked, own the intent's customer).
create or replace function app_private.settle_top_up(
  p_intent text, p_user uuid, p_customer text, p_amount_cents int, p_received_cents int, p_at timestamptz, p_actor text
) returns uuid language plpgsql as $$
begin
  perform 1 from public.users u
    where u.id = p_user and (u.stripe_customer_id is null or u.stripe_customer_id = p_customer);
  if not found then
    return null;
  end if;
  insert into public.payment_attempts as a (user_id, amount_cents, payment_intent_id, kind, status, succeeded_at)
    values (p_user, p_amount_cents, p_intent, 'usage_topup', 'succeeded', p_at)
    on conflict (payment_intent_id) do update
      set status = 'succeeded', succeeded_at = excluded.succeeded_at, failure_code = null, failure_message = null
      where a.status <> 'succeeded';
  perform app_private.grant_credit(p_user, p_received_cents::bigint * 10000, 'payment_intent', p_intent, p_actor);
  return p_user;
end $$;

-- The whole event: 'processed', 'ignored' (not one of our top-ups) or 'duplicate' (handled before).
create or replace function app_private.process_top_up_succeeded(
  p_event_id text, p_event_type text, p_event_created timestamptz, p_payload jsonb,
  p_intent text, p_user uuid, p_customer text, p_amount_cents int, p_received_cents int
) returns text language plpgsql as $$
declare
  credited uuid;
begin
  -- Claims the event: a concurrent delivery of the same id waits on this row, then sees it done.
  insert into public.webhook_events as w (id, type, stripe_created, payload, attempts)
    values (p_event_id, p_event_type, p_event_created, p_payload, 1)
    on conflict (id) do update set attempts = w.attempts + 1 where w.status not in ('processed', 'ignored');
  if not found then
    return 'duplicate';
  end if;
  credited := app_private.settle_top_up(p_intent, p_user, p_customer, p_amount_cents, p_received_cents, p_event_created, 'stripe-webhook');
  update public.webhook_events
    set status = case when credited is null then 'ignored' else 'processed' end,
        user_id = credited, processed_at = now(), last_error = null
    where id = p_event_id;
  return case when credited is null then 'ignored' else 'processed' end;
end $$;
