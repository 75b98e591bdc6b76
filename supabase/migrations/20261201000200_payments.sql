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
  -- Top-ups are in USD only: a payment in another currency is recorded, never credited, and
  -- flagged for operators (admin page, `npm run webhooks -- flagged`).
  currency          text not null default 'usd',
  flag              text check (flag in ('currency_not_usd')),
  constraint payment_attempts_refund_le_amount check (refunded_cents <= amount_cents)
);
create index payment_attempts_flagged_idx on public.payment_attempts (created_at) where flag is not null;
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
-- charge_refunds: append-only ledger of money given back, one row per increase of a charge's
-- refunded total (Stripe's charge.amount_refunded, so duplicates and reordered events add the
-- difference once). Top-ups and subscription invoices alike: the admin view nets them out of
-- revenue by the day they were recorded.
-- Owner: system. Readers: the user themself; admins (all rows).
create table public.charge_refunds (
  id                bigint generated always as identity primary key,
  user_id           uuid references public.users (id) on delete cascade,
  charge_id         text not null,
  payment_intent_id text,
  kind              text not null check (kind in ('usage_topup', 'subscription')),
  amount_cents      bigint not null check (amount_cents > 0),
  currency          text not null,
  total_cents       bigint not null,      -- the charge's refunded total after this row
  created_at        timestamptz not null default now()
);
comment on table public.charge_refunds is
  'Owner: system (append-only, Stripe webhooks). Readers: the user themself; admins (all rows).';
create index charge_refunds_charge_idx on public.charge_refunds (charge_id);
create index charge_refunds_intent_idx on public.charge_refunds (payment_intent_id);
create index charge_refunds_created_idx on public.charge_refunds (created_at);
create trigger charge_refunds_append_only before update or delete on public.charge_refunds
  for each row execute function app_private.forbid_change();
alter table public.charge_refunds enable row level security;
revoke all on public.charge_refunds from anon, authenticated;
grant select on public.charge_refunds to authenticated;
create policy charge_refunds_select_own on public.charge_refunds for select to authenticated
  using (user_id = (select auth.uid()));
create policy charge_refunds_select_admin on public.charge_refunds for select to authenticated
  using ((select app_private.is_admin()));

-- ---------------------------------------------------------------------------------------------
-- disputes: chargebacks, one row per Stripe dispute. While open, what it could freeze of its
-- top-up's grant is frozen; won releases it, lost takes the disputed amount back (owed for the
-- part already spent). A dispute seen before its payment's success waits (grant_id null) and is
-- applied when the payment credits.
-- Owner: system. Readers: the user themself; admins (all rows).
create table public.disputes (
  id                text primary key,              -- Stripe's du_...
  user_id           uuid references public.users (id) on delete cascade,
  charge_id         text not null,
  payment_intent_id text,
  kind              text not null check (kind in ('usage_topup', 'subscription')),
  amount_cents      bigint not null check (amount_cents > 0),
  currency          text not null,
  status            text not null check (status in ('open', 'won', 'lost')),
  grant_id          uuid references public.credit_grants (id),
  frozen_micros     bigint not null default 0,
  owed_micros       bigint not null default 0,
  applied_status    text check (applied_status in ('open', 'won', 'lost')),  -- what the grant reflects
  opened_at         timestamptz not null,
  closed_at         timestamptz,
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now()
);
comment on table public.disputes is 'Owner: system (Stripe webhooks). Readers: the user themself; admins (all rows).';
create index disputes_intent_idx on public.disputes (payment_intent_id);
create index disputes_closed_idx on public.disputes (closed_at) where status = 'lost';
create trigger disputes_touch before update on public.disputes
  for each row execute function app_private.touch_updated_at();
alter table public.disputes enable row level security;
revoke all on public.disputes from anon, authenticated;
grant select on public.disputes to authenticated;
create policy disputes_select_own on public.disputes for select to authenticated
  using (user_id = (select auth.uid()));
create policy disputes_select_admin on public.disputes for select to authenticated
  using ((select app_private.is_admin()));

-- The user a charge belongs to: the top-up's user (from our attempt or the intent's metadata,
-- checked against the charge's customer when both are known), else the owner of the customer.
create or replace function app_private.charge_user(p_user uuid, p_customer text) returns uuid
language sql stable as $$
  select coalesce(
    (select u.id from public.users u
     where u.id = p_user and (p_customer is null or u.stripe_customer_id is null or u.stripe_customer_id = p_customer)),
    (select u.id from public.users u where p_customer is not null and u.stripe_customer_id = p_customer))
$$;

-- A charge's refunded total is now p_total_cents: records the increase (once), and for a top-up
-- takes it out of the grant (refund_credit; owed for what was spent). Returns what changed, or
-- no row when nothing did. A charge is a top-up's when its intent has a top-up attempt, or
-- p_top_up_user (the intent's metadata) names one; any other is a subscription invoice's.
create or replace function app_private.record_charge_refund(
  p_charge text, p_intent text, p_top_up_user uuid, p_customer text, p_total_cents bigint, p_currency text, p_actor text
) returns table (user_id uuid, kind text, refunded_cents bigint, taken_micros bigint, owed_micros bigint)
language plpgsql as $$
declare
  v_top_up uuid := coalesce(p_top_up_user, (select a.user_id from public.payment_attempts a
                                             where a.payment_intent_id = p_intent and a.kind = 'usage_topup'));
  v_user uuid := app_private.charge_user(v_top_up, p_customer);
  v_kind text := case when v_top_up is not null then 'usage_topup' else 'subscription' end;
  before bigint;
  r record;
begin
  if v_user is null then
    return;
  end if;
  -- Serialises events of one charge (two refunds delivered at once).
  perform pg_advisory_xact_lock(hashtext('charge:' || p_charge));
  select coalesce(max(c.total_cents), 0) into before from public.charge_refunds c where c.charge_id = p_charge;
  if p_total_cents <= before then
    return;
  end if;
  insert into public.charge_refunds (user_id, charge_id, payment_intent_id, kind, amount_cents, currency, total_cents)
    values (v_user, p_charge, p_intent, v_kind, p_total_cents - before, lower(p_currency), p_total_cents);
  update public.payment_attempts a set refunded_cents = least(a.amount_cents, greatest(a.refunded_cents, p_total_cents))
    where a.payment_intent_id = p_intent;
  insert into public.audit_log (user_id, actor, action, entity_type, entity_id, amount_micros, details)
    values (v_user, p_actor, 'refund.recorded', 'charge', p_charge, (p_total_cents - before) * 10000,
            jsonb_build_object('paymentIntent', p_intent, 'refundedCents', p_total_cents, 'kind', v_kind));
  taken_micros := 0; owed_micros := 0;
  if v_kind = 'usage_topup' and p_intent is not null then
    select * into r from app_private.refund_credit('payment_intent', p_intent,
      (select sum(c.amount_cents) from public.charge_refunds c where c.payment_intent_id = p_intent)::bigint * 10000,
      p_charge, p_actor) x;
    taken_micros := coalesce(r.taken_micros, 0); owed_micros := coalesce(r.owed_micros, 0);
  end if;
  return query select v_user, v_kind, p_total_cents - before, taken_micros, owed_micros;
end $$;

-- Brings a dispute's grant in step with the dispute's status: freeze when open, release when won,
-- take back when lost. Works from whatever the grant reflects so far (applied_status), so a
-- dispute seen opened then closed, closed without being seen opened, or before its payment's
-- success, all end the same.
create or replace function app_private.apply_dispute(p_dispute text, p_grant uuid) returns void
language plpgsql as $$
declare
  d public.disputes;
  frozen bigint;
  owed bigint;
begin
  select * into d from public.disputes x where x.id = p_dispute for update;
  if p_grant is null or d.applied_status is not distinct from d.status then
    return;
  end if;
  frozen := d.frozen_micros;
  if d.applied_status is null then
    frozen := app_private.freeze_credit(p_grant, d.amount_cents * 10000, p_dispute);
  end if;
  owed := 0;
  if d.status in ('won', 'lost') then
    owed := app_private.settle_frozen_credit(p_grant, frozen, d.amount_cents * 10000, d.status = 'won', p_dispute);
  end if;
  update public.disputes x set grant_id = p_grant, frozen_micros = frozen, owed_micros = owed, applied_status = d.status
    where x.id = p_dispute;
end $$;

-- A dispute opened or closed (p_status 'open', 'won' or 'lost'). Idempotent and order-safe: the
-- status only moves from open to closed, never back. Returns the dispute's row when its status
-- changed (or it is new), else nothing.
create or replace function app_private.record_dispute(
  p_dispute text, p_charge text, p_intent text, p_top_up_user uuid, p_customer text, p_amount_cents bigint,
  p_currency text, p_status text, p_at timestamptz, p_actor text
) returns setof public.disputes language plpgsql as $$
declare
  v_top_up uuid := coalesce(p_top_up_user, (select a.user_id from public.payment_attempts a
                                             where a.payment_intent_id = p_intent and a.kind = 'usage_topup'));
  v_user uuid := app_private.charge_user(v_top_up, p_customer);
  d public.disputes;
  v_grant uuid;
begin
  if v_user is null then
    return;
  end if;
  insert into public.disputes as x (id, user_id, charge_id, payment_intent_id, kind, amount_cents, currency, status, opened_at, closed_at)
    values (p_dispute, v_user, p_charge, p_intent, case when v_top_up is not null then 'usage_topup' else 'subscription' end,
            p_amount_cents, lower(p_currency), p_status, p_at, case when p_status <> 'open' then p_at end)
    on conflict (id) do update set status = excluded.status, closed_at = excluded.closed_at
      where x.status = 'open' and excluded.status <> 'open'
    returning * into d;
  if not found then
    return;
  end if;
  insert into public.audit_log (user_id, actor, action, entity_type, entity_id, amount_micros, details)
    values (v_user, p_actor, 'dispute.' || p_status, 'dispute', p_dispute, p_amount_cents * 10000,
            jsonb_build_object('charge', p_charge, 'paymentIntent', p_intent));
  if d.kind = 'usage_topup' and lower(p_currency) = 'usd' then
    select g.id into v_grant from public.credit_grants g where g.source = 'payment_intent' and g.source_id = p_intent;
    perform app_private.apply_dispute(p_dispute, v_grant);
  end if;
  return query select * from public.disputes x where x.id = p_dispute;
end $$;

-- ---------------------------------------------------------------------------------------------
-- payment_intent.succeeded for a usage top-up (lib/webhooks/handlers/payment-intents.ts, inside
-- the event's one transaction).

-- Marks a top-up attempt succeeded and credits exactly what was received, once per intent, as a
-- grant bought at p_at. A payment in another currency than USD is recorded and flagged, never
-- credited. Refunds and disputes that arrived before this event (reordering) are applied to the
-- new grant at once. Returns the user, or null when the intent is not a top-up of a user we know
-- (the user must exist and, once linked, own the intent's customer).
create or replace function app_private.settle_top_up(
  p_intent text, p_user uuid, p_customer text, p_amount_cents int, p_received_cents int, p_at timestamptz, p_actor text,
  p_currency text default 'usd'
) returns uuid language plpgsql as $$
declare
  usd boolean := lower(coalesce(p_currency, '')) = 'usd';
  attempt public.payment_attempts;
  d public.disputes;
  grant_id uuid;
begin
  perform 1 from public.users u
    where u.id = p_user and (u.stripe_customer_id is null or u.stripe_customer_id = p_customer);
  if not found then
    return null;
  end if;
  insert into public.payment_attempts as a (user_id, amount_cents, payment_intent_id, kind, status, succeeded_at, currency, flag)
    values (p_user, p_amount_cents, p_intent, 'usage_topup', 'succeeded', p_at, coalesce(lower(p_currency), 'unknown'),
            case when usd then null else 'currency_not_usd' end)
    on conflict (payment_intent_id) do update
      set status = 'succeeded', succeeded_at = excluded.succeeded_at, failure_code = null, failure_message = null,
          currency = excluded.currency, flag = excluded.flag
      where a.status <> 'succeeded'
    returning * into attempt;
  if not usd then
    if attempt.id is not null then
      insert into public.audit_log (user_id, actor, action, entity_type, entity_id, amount_micros, details)
        values (p_user, p_actor, 'payment.flagged', 'payment_intent', p_intent, null,
                jsonb_build_object('reason', 'currency_not_usd', 'currency', coalesce(lower(p_currency), 'unknown'), 'amount', p_received_cents));
    end if;
    return p_user;
  end if;
  select g.credit_id into grant_id
    from app_private.grant_credit(p_user, p_received_cents::bigint * 10000, 'payment_intent', p_intent, p_actor, p_at) g;
  -- Refunds recorded before the payment's own event: take them out now.
  perform app_private.refund_credit('payment_intent', p_intent,
    coalesce((select sum(r.amount_cents) from public.charge_refunds r where r.payment_intent_id = p_intent), 0)::bigint * 10000,
    'refunds before success', p_actor);
  -- Disputes opened (or closed) before it: freeze, or settle, against the new grant.
  for d in select * from public.disputes x where x.payment_intent_id = p_intent and x.grant_id is null for update loop
    perform app_private.apply_dispute(d.id, grant_id);
  end loop;
  return p_user;
end $$;
