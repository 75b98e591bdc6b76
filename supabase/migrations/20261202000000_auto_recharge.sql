-- Auto-recharge (issue 14): "when my remaining balance falls below $X, add $Y with my default
-- card, at most $Z a month". The user opts in on the dashboard; the task runner's commits start
-- recharges; the server charges them off-session; the credit lands through the top-up webhook
-- path (settle_top_up), exactly like a top-up the user paid by hand.
--
-- The rules, in one place:
--   * A commit that leaves the remaining balance below the threshold starts a recharge when
--     auto-recharge is on, no recharge of the user's is open, and the amount fits under the
--     month's cap. "Open" is pending (not yet charged), processing (charged, credit not landed yet)
--     or requires_action (the bank wants the user to confirm). One open recharge per user is a
--     unique index, so concurrent commits (single or batched) start exactly one.
--   * A recharge that lands and still leaves the balance below the threshold lets the next commit
--     start another: the user asked to stay above $X; the monthly cap bounds it.
--   * The cap counts every recharge of the calendar month (UTC) that is open or succeeded; a
--     declined or cancelled one costs nothing and does not count. Never exceeded: the sum is checked
--     when a recharge is started, and at most one is open at a time.
--   * A decline is retried by the next commit that finds the balance below the threshold; three
--     declines in a row turn auto-recharge off and tell the user. A success resets the count.
--   * A card that needs authentication leaves the recharge open (requires_action) and notifies the
--     user with a link to a page where they confirm it; no other recharge starts meanwhile.
--   * No default card at charge time turns auto-recharge off at once and says why.
--   * A dispute of a recharge's payment turns it off (no more charges to a card whose holder
--     disputes them); cancelling a held-back recharge pauses it until the user turns it on again.

-- ---------------------------------------------------------------------------------------------
-- auto_recharge_settings: the user's opt-in. Written by the server only (lib/payments/
-- auto-recharge.ts checks the user has a default card before turning it on), because it
-- authorises charges; the system also writes the decline count and turns it off.
-- Owner: system. Readers: the user themself.
create table public.auto_recharge_settings (
  user_id            uuid primary key references public.users (id) on delete cascade,
  enabled            boolean not null,
  threshold_cents    integer not null check (threshold_cents >= 0 and threshold_cents <= 10000000),
  amount_cents       integer not null check (amount_cents >= 50 and amount_cents <= 1000000),
  monthly_cap_cents  integer not null check (monthly_cap_cents >= amount_cents and monthly_cap_cents <= 10000000),
  declines_in_a_row  integer not null default 0 check (declines_in_a_row >= 0),
  -- Why it was turned off other than by the user's switch: 'declined' (three declines in a row),
  -- 'no_card', 'disputed' (a recharge's payment was disputed), 'canceled' (the user cancelled a
  -- recharge their bank held back: paused until they turn it on again).
  disabled_reason    text check (disabled_reason in ('declined', 'no_card', 'disputed', 'canceled')),
  updated_at         timestamptz not null default now()
);
comment on table public.auto_recharge_settings is 'Owner: system (the server writes it for the user). Readers: the user themself.';
alter table public.auto_recharge_settings enable row level security;
revoke all on public.auto_recharge_settings from anon, authenticated;
grant select on public.auto_recharge_settings to authenticated;
create policy auto_recharge_settings_select_own on public.auto_recharge_settings for select to authenticated
  using (user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------------
-- auto_recharges: one row per recharge started. Status moves only forward along
--   pending -> processing | requires_action | failed -> succeeded | canceled
-- (succeeded is reachable from every state: money Stripe received is always recorded).
-- payment_method_id is fixed at the first charge attempt, so a retried attempt sends Stripe the
-- same parameters under the same idempotency key (auto-recharge:<id>).
-- Owner: system. Readers: the user themself.
create table public.auto_recharges (
  id                 uuid primary key default gen_random_uuid(),
  user_id            uuid not null references public.users (id) on delete cascade,
  amount_cents       integer not null check (amount_cents >= 50),
  status             text not null default 'pending'
                       check (status in ('pending', 'processing', 'requires_action', 'succeeded', 'failed', 'canceled')),
  cap_month          date not null,
  payment_method_id  text,
  payment_intent_id  text unique,
  failure_code       text,
  -- When the server last took the pending recharge to charge it: a crashed attempt is taken again
  -- after a minute (same idempotency key, so Stripe charges once).
  claimed_at         timestamptz,
  created_at         timestamptz not null default now(),
  updated_at         timestamptz not null default now()
);
comment on table public.auto_recharges is 'Owner: system. Readers: the user themself.';
create unique index auto_recharges_one_open on public.auto_recharges (user_id)
  where status in ('pending', 'processing', 'requires_action');
create index auto_recharges_user_month on public.auto_recharges (user_id, cap_month);
alter table public.auto_recharges enable row level security;
revoke all on public.auto_recharges from anon, authenticated;
grant select on public.auto_recharges to authenticated;
create policy auto_recharges_select_own on public.auto_recharges for select to authenticated
  using (user_id = (select auth.uid()));

-- $12.34 from cents, for notification texts.
create or replace function app_private.dollars(p_cents bigint)
returns text language sql immutable as $$
  select '$' || to_char(p_cents / 100.0, 'FM999,999,999,990.00')
$$;

-- The status of the user's recharge on its way, if any: pending (started), processing (charged,
-- credit not landed yet) or requires_action (waiting for the user to confirm). The task runner's
-- check, reserve and commit answers carry it as rechargePending.
create or replace function app_private.open_recharge_status(p_user uuid)
returns text language plpgsql stable as $$
begin
  return (select r.status from public.auto_recharges r
          where r.user_id = p_user and r.status in ('pending', 'processing', 'requires_action'));
end $$;
grant execute on function app_private.open_recharge_status(uuid) to authenticated, service_role;

-- Called after a commit (in the same statement for a single commit; after the batch for a batch)
-- with the remaining balance it left, or null to compute it. Starts a recharge when one is due.
-- Returns the id of a recharge that still has to be charged (just started, or left pending by an
-- attempt that crashed), else null. Cheap when the user has not opted in: one primary-key probe.
create or replace function app_private.start_auto_recharge(p_user uuid, p_remaining_micros bigint default null)
returns uuid language plpgsql as $$
declare
  s public.auto_recharge_settings;
  open_recharge public.auto_recharges;
  month date := (date_trunc('month', now() at time zone 'UTC'))::date;
  this_month bigint;
  remaining bigint := p_remaining_micros;
  started uuid;
begin
  select * into s from public.auto_recharge_settings x where x.user_id = p_user;
  if not found or not s.enabled then
    return null;
  end if;
  select * into open_recharge from public.auto_recharges r
    where r.user_id = p_user and r.status in ('pending', 'processing', 'requires_action');
  if found then
    -- One open at a time. A pending one nobody is charging (a crash) is handed back to charge.
    return case when open_recharge.status = 'pending'
                 and (open_recharge.claimed_at is null or open_recharge.claimed_at < now() - interval '1 minute')
                then open_recharge.id end;
  end if;
  if remaining is null then
    remaining := (select x.remaining_micros from app_private.usage_snapshot(p_user) x);
  end if;
  if remaining >= s.threshold_cents::bigint * 10000 then
    return null;
  end if;
  select coalesce(sum(r.amount_cents), 0) into this_month from public.auto_recharges r
    where r.user_id = p_user and r.cap_month = month and r.status in ('pending', 'processing', 'requires_action', 'succeeded');
  if this_month + s.amount_cents > s.monthly_cap_cents then
    insert into public.notifications (user_id, kind, title, body, data, dedupe_key)
      values (p_user, 'auto_recharge_cap', 'Auto-recharge reached its monthly limit',
              'Auto-recharge has added ' || app_private.dollars(this_month) || ' this month, and another '
                || app_private.dollars(s.amount_cents) || ' would pass your limit of ' || app_private.dollars(s.monthly_cap_cents)
                || '. It starts again next month, or raise the limit on your billing page.',
              jsonb_build_object('monthlyCapCents', s.monthly_cap_cents, 'month', month, 'retryUrl', '/billing#auto-recharge'),
              'auto_recharge_cap:' || month)
      on conflict (user_id, dedupe_key) do nothing;
    return null;
  end if;
  -- A concurrent commit may have started one since the probe above: the unique index decides.
  insert into public.auto_recharges (user_id, amount_cents, cap_month)
    values (p_user, s.amount_cents, month)
    on conflict (user_id) where status in ('pending', 'processing', 'requires_action') do nothing
    returning id into started;
  return started;
end $$;
comment on function app_private.start_auto_recharge(uuid, bigint) is
  'Starts an auto-recharge when the remaining balance is below the user''s threshold. Called by the system only.';

-- What a single commit's statement calls after commit_usage (lib/billing/usage.ts): starts a
-- recharge when one is due (not for a retried commit) and says what is on its way. A user who
-- never opted in has no settings row and so can have no recharge: one primary-key probe, the
-- cost every commit of theirs pays for this feature.
create or replace function app_private.auto_recharge_after_commit(
  p_user uuid, p_remaining_micros bigint, p_duplicate boolean,
  out due_recharge_id uuid, out recharge_status text
) language plpgsql as $$
begin
  if not exists (select 1 from public.auto_recharge_settings s where s.user_id = p_user) then
    return;
  end if;
  if not p_duplicate then
    due_recharge_id := app_private.start_auto_recharge(p_user, p_remaining_micros);
  end if;
  recharge_status := app_private.open_recharge_status(p_user);
end $$;
comment on function app_private.auto_recharge_after_commit(uuid, bigint, boolean) is
  'Starts a due auto-recharge after a commit and reports the open one. Called by the system only.';

-- Records what became of a recharge, from the server's charge attempt or from Stripe's webhook
-- (whichever comes first; the other changes nothing). p_outcome:
--   charged          Stripe accepted the off-session charge (pending -> processing)
--   succeeded        the money arrived (the webhook, after settle_top_up credited it)
--   requires_action  the bank wants the user to confirm (authentication_required)
--   declined         the card was declined: counts towards the three in a row
--   no_card          no default card to charge: auto-recharge is turned off at once
--   canceled         the user (or Stripe) cancelled the payment
-- Returns the recharge's status after the call, or null when the id is not this user's.
create or replace function app_private.record_auto_recharge(
  p_recharge uuid, p_user uuid, p_outcome text, p_intent text default null, p_code text default null
) returns text language plpgsql as $$
declare
  r public.auto_recharges;
  declines integer;
begin
  if p_outcome not in ('charged', 'succeeded', 'requires_action', 'declined', 'no_card', 'canceled') then
    raise exception 'unknown auto-recharge outcome %', p_outcome using errcode = '22023';
  end if;
  select * into r from public.auto_recharges x where x.id = p_recharge and x.user_id = p_user for update;
  if not found then
    return null;
  end if;
  if p_intent is not null and r.payment_intent_id is not null and r.payment_intent_id <> p_intent then
    raise exception 'auto-recharge % is paid by %, not %', r.id, r.payment_intent_id, p_intent using errcode = '22023';
  end if;

  if p_outcome = 'charged' and r.status = 'pending' then
    update public.auto_recharges set status = 'processing', payment_intent_id = coalesce(p_intent, payment_intent_id),
        updated_at = now() where id = r.id;
    update public.auto_recharge_settings set declines_in_a_row = 0 where user_id = p_user;
  elsif p_outcome = 'succeeded' and r.status <> 'succeeded' then
    update public.auto_recharges set status = 'succeeded', payment_intent_id = coalesce(p_intent, payment_intent_id),
        failure_code = null, updated_at = now() where id = r.id;
    update public.auto_recharge_settings set declines_in_a_row = 0 where user_id = p_user;
    insert into public.notifications (user_id, kind, title, body, data, dedupe_key)
      values (p_user, 'auto_recharge_succeeded', 'Auto-recharge added ' || app_private.dollars(r.amount_cents),
              'Your balance was running low, so ' || app_private.dollars(r.amount_cents)
                || ' was added with your default card, as you asked.',
              jsonb_build_object('autoRechargeId', r.id, 'amountCents', r.amount_cents), 'auto_recharge_succeeded:' || r.id)
      on conflict (user_id, dedupe_key) do nothing;
  elsif p_outcome = 'requires_action' and r.status in ('pending', 'processing') then
    update public.auto_recharges set status = 'requires_action', payment_intent_id = coalesce(p_intent, payment_intent_id),
        failure_code = coalesce(p_code, 'authentication_required'), updated_at = now() where id = r.id;
    insert into public.notifications (user_id, kind, title, body, data, dedupe_key)
      values (p_user, 'auto_recharge_action_required', 'Confirm your auto-recharge of ' || app_private.dollars(r.amount_cents),
              'Your bank asks you to confirm this payment before it goes through. Nothing was taken yet, and no other '
                || 'auto-recharge starts until you confirm or cancel it.',
              jsonb_build_object('autoRechargeId', r.id, 'amountCents', r.amount_cents, 'retryUrl', '/billing/auto-recharge/' || r.id),
              'auto_recharge_action_required:' || r.id)
      on conflict (user_id, dedupe_key) do nothing;
  elsif p_outcome in ('declined', 'no_card') and r.status in ('pending', 'processing') then
    update public.auto_recharges set status = 'failed', payment_intent_id = coalesce(p_intent, payment_intent_id),
        failure_code = coalesce(p_code, p_outcome), updated_at = now() where id = r.id;
    update public.auto_recharge_settings
      set declines_in_a_row = declines_in_a_row + 1,
          enabled = case when p_outcome = 'no_card' or declines_in_a_row + 1 >= 3 then false else enabled end,
          disabled_reason = case when p_outcome = 'no_card' then 'no_card'
                                 when declines_in_a_row + 1 >= 3 then 'declined' else disabled_reason end,
          updated_at = now()
      where user_id = p_user
      returning declines_in_a_row into declines;
    if p_outcome = 'no_card' then
      insert into public.notifications (user_id, kind, title, body, data, dedupe_key)
        values (p_user, 'auto_recharge_disabled', 'Auto-recharge is off: no card to charge',
                'Auto-recharge needs a default card, and you have none saved now. Add a card, then turn auto-recharge on again.',
                jsonb_build_object('autoRechargeId', r.id, 'reason', 'no_card', 'retryUrl', '/billing/payment-methods'),
                'auto_recharge_disabled:' || r.id)
        on conflict (user_id, dedupe_key) do nothing;
    elsif declines >= 3 then
      insert into public.notifications (user_id, kind, title, body, data, dedupe_key)
        values (p_user, 'auto_recharge_disabled', 'Auto-recharge is off after 3 declined payments',
                'Your card was declined three times in a row, so auto-recharge turned itself off. Nothing was taken. '
                  || 'Update your card, then turn auto-recharge on again.',
                jsonb_build_object('autoRechargeId', r.id, 'reason', 'declined', 'retryUrl', '/billing/payment-methods'),
                'auto_recharge_disabled:' || r.id)
        on conflict (user_id, dedupe_key) do nothing;
    else
      insert into public.notifications (user_id, kind, title, body, data, dedupe_key)
        values (p_user, 'auto_recharge_failed', 'Auto-recharge of ' || app_private.dollars(r.amount_cents) || ' was declined',
                'Your card was declined (' || coalesce(p_code, 'declined') || '). Nothing was taken. It will be tried again '
                  || 'with the next task; after 3 declines in a row auto-recharge turns itself off.',
                jsonb_build_object('autoRechargeId', r.id, 'reason', coalesce(p_code, 'declined'), 'retryUrl', '/billing/payment-methods'),
                'auto_recharge_failed:' || r.id)
        on conflict (user_id, dedupe_key) do nothing;
    end if;
  elsif p_outcome = 'canceled' and r.status in ('pending', 'processing', 'requires_action') then
    update public.auto_recharges set status = 'canceled', payment_intent_id = coalesce(p_intent, payment_intent_id),
        updated_at = now() where id = r.id;
  end if;
  return (select x.status from public.auto_recharges x where x.id = r.id);
end $$;
comment on function app_private.record_auto_recharge(uuid, uuid, text, text, text) is
  'Moves an auto-recharge forward from a charge attempt or a webhook; idempotent. Called by the system only.';

-- A recharge's payment was disputed: auto-recharge is turned off and the user told why, so a card
-- whose holder disputes its charges is not charged again (each dispute also costs a fee).
create or replace function app_private.pause_auto_recharge_after_dispute(p_user uuid, p_intent text)
returns void language plpgsql as $$
begin
  if not exists (select 1 from public.auto_recharges r where r.user_id = p_user and r.payment_intent_id = p_intent) then
    return;
  end if;
  update public.auto_recharge_settings set enabled = false, disabled_reason = 'disputed', updated_at = now()
    where user_id = p_user and enabled;
  if found then
    insert into public.notifications (user_id, kind, title, body, data, dedupe_key)
      values (p_user, 'auto_recharge_disabled', 'Auto-recharge is off: a recharge was disputed',
              'A payment auto-recharge made was disputed with your bank, so auto-recharge turned itself off. '
                || 'Turn it on again on your billing page if you want it back.',
              jsonb_build_object('reason', 'disputed', 'paymentIntentId', p_intent, 'retryUrl', '/billing#auto-recharge'),
              'auto_recharge_disabled:dispute:' || p_intent)
      on conflict (user_id, dedupe_key) do nothing;
  end if;
end $$;
comment on function app_private.pause_auto_recharge_after_dispute(uuid, text) is
  'Turns auto-recharge off after a dispute of one of its payments. Called by the system only.';
