-- Baseline, credits: a balance of grants, what a user owes, and the movements ledger that both
-- are recomputed from.
--
-- A grant is one payment's credit (a usage top-up). It stays until it is spent or expires,
-- 12 months after the purchase, across renewals, plan changes and calendar months. Usage beyond a
-- period's allowance spends credits, oldest grant first; what credits cannot cover is owed.
-- Owed is carried across periods and counts against what remains in every period until a new
-- grant pays it off (a grant pays what is owed first). It is never absorbed by a later period's
-- allowance: that would let a free Starter month forgive it.
--
-- Refunds and disputes of a top-up take the refunded (or lost) amount out of what is left of its
-- grant; whatever was already spent becomes owed. An open dispute freezes what it can of the
-- grant, so it cannot be spent; won, it is released; lost, it is taken back like a refund.
--
-- Counters = ledgers: credit_grants.left_micros, frozen_micros and refunded_micros and
-- credit_accounts.owed_micros are each the sum of their credit_movements columns (a test
-- recomputes them). Lock order: the user's period row (lock_usage_period, which serialises every
-- change of what remains), then grants in purchase order, then the credit account.

-- ---------------------------------------------------------------------------------------------
-- credit_grants: one row per credited payment (one per source, so a payment credited twice is
-- impossible). The grant's facts never change; its three counters move only with a movement.
-- Owner: system. Readers: the user themself.
create table public.credit_grants (
  id              uuid primary key default gen_random_uuid(),
  user_id         uuid not null references public.users (id) on delete cascade,
  amount_micros   bigint not null check (amount_micros > 0),
  source          text not null check (source in ('payment_intent', 'manual')),
  source_id       text not null,
  purchased_at    timestamptz not null,
  expires_at      timestamptz not null,
  left_micros     bigint not null check (left_micros >= 0),
  frozen_micros   bigint not null default 0 check (frozen_micros >= 0),
  refunded_micros bigint not null default 0 check (refunded_micros >= 0),
  created_at      timestamptz not null default now(),
  unique (source, source_id),
  constraint credit_grants_left_le_amount check (left_micros <= amount_micros),
  constraint credit_grants_frozen_le_left check (frozen_micros <= left_micros),
  constraint credit_grants_refunded_le_amount check (refunded_micros <= amount_micros)
);
comment on table public.credit_grants is 'Owner: system (credits functions). Readers: the user themself.';
create index credit_grants_user_idx on public.credit_grants (user_id, purchased_at, id);
-- Spendable grants of a user, in the order they are spent.
create index credit_grants_spendable_idx on public.credit_grants (user_id, purchased_at, id) where left_micros > frozen_micros;

create or replace function app_private.credit_grants_guard() returns trigger
language plpgsql as $$
begin
  if tg_op = 'DELETE' or (new.id, new.user_id, new.amount_micros, new.source, new.source_id, new.purchased_at,
                          new.expires_at, new.created_at)
       is distinct from (old.id, old.user_id, old.amount_micros, old.source, old.source_id, old.purchased_at,
                         old.expires_at, old.created_at) then
    raise exception 'credit_grants: only the counters may change' using errcode = '42501';
  end if;
  return new;
end $$;
create trigger credit_grants_guard before update or delete on public.credit_grants
  for each row execute function app_private.credit_grants_guard();
alter table public.credit_grants enable row level security;
revoke all on public.credit_grants from anon, authenticated;
grant select on public.credit_grants to authenticated;
create policy credit_grants_select_own on public.credit_grants for select to authenticated
  using (user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------------
-- credit_accounts: what a user owes (usage no allowance or credit covered, refunded or disputed
-- credit that was already spent). One row per user that ever owed.
-- Owner: system. Readers: the user themself.
create table public.credit_accounts (
  user_id     uuid primary key references public.users (id) on delete cascade,
  owed_micros bigint not null default 0 check (owed_micros >= 0),
  updated_at  timestamptz not null default now()
);
comment on table public.credit_accounts is 'Owner: system (credits functions). Readers: the user themself.';
alter table public.credit_accounts enable row level security;
revoke all on public.credit_accounts from anon, authenticated;
grant select on public.credit_accounts to authenticated;
create policy credit_accounts_select_own on public.credit_accounts for select to authenticated
  using (user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------------
-- credit_movements: the append-only ledger of every change to a grant or to what is owed.
--   granted           +left                           a payment credited
--   owed_paid         -left, -owed                    a new grant pays what was owed
--   usage             -left                           usage beyond the allowance spent credit
--   usage_owed        +owed                           ... that no credit covered
--   refund            -left, +owed, +refunded         a refund (owed: what was already spent)
--   dispute_frozen    +frozen                         a dispute opened
--   dispute_released  -frozen                         a dispute won
--   dispute_lost      -frozen, -left, +owed, +refunded a dispute lost
-- Owner: system. Readers: the user themself.
create table public.credit_movements (
  id              bigint generated always as identity primary key,
  user_id         uuid not null references public.users (id) on delete cascade,
  grant_id        uuid references public.credit_grants (id) on delete cascade,
  kind            text not null check (kind in ('granted', 'owed_paid', 'usage', 'usage_owed', 'refund',
                    'dispute_frozen', 'dispute_released', 'dispute_lost')),
  left_micros     bigint not null default 0,
  frozen_micros   bigint not null default 0,
  refunded_micros bigint not null default 0,
  owed_micros     bigint not null default 0,
  reference       text not null,   -- what caused it: usage_event:<id>, a payment intent, re_/ch_/du_ ids
  created_at      timestamptz not null default now()
);
comment on table public.credit_movements is 'Owner: system (append-only credits ledger). Readers: the user themself.';
create index credit_movements_user_idx on public.credit_movements (user_id, created_at);
create index credit_movements_grant_idx on public.credit_movements (grant_id) where grant_id is not null;
create trigger credit_movements_append_only before update or delete on public.credit_movements
  for each row execute function app_private.forbid_change();
alter table public.credit_movements enable row level security;
revoke all on public.credit_movements from anon, authenticated;
grant select on public.credit_movements to authenticated;
create policy credit_movements_select_own on public.credit_movements for select to authenticated
  using (user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------------
-- What a user can spend now (unexpired, unfrozen credit) and what they owe. Security invoker:
-- users call it through usage_snapshot, inside their RLS transaction.
create or replace function app_private.credit_position(p_user uuid, out spendable bigint, out owed bigint)
language plpgsql stable as $$
begin
  select coalesce(sum(g.left_micros - g.frozen_micros), 0)::bigint into spendable
    from public.credit_grants g
    where g.user_id = p_user and g.left_micros > g.frozen_micros and g.expires_at > now();
  select coalesce((select a.owed_micros from public.credit_accounts a where a.user_id = p_user), 0) into owed;
end $$;
grant execute on function app_private.credit_position(uuid) to authenticated, service_role;

-- Adds p_delta to what the user owes (negative: pays it). The caller records the movement.
create or replace function app_private.add_owed(p_user uuid, p_delta bigint) returns void
language plpgsql as $$
begin
  if p_delta < 0 then
    -- Paying: the row exists (there was something owed). An insert would check the negative value.
    update public.credit_accounts a set owed_micros = a.owed_micros + p_delta, updated_at = now() where a.user_id = p_user;
  else
    insert into public.credit_accounts as a (user_id, owed_micros) values (p_user, p_delta)
      on conflict (user_id) do update set owed_micros = a.owed_micros + p_delta, updated_at = now();
  end if;
end $$;

-- Spends p_amount_micros of the user's credits, oldest grant first (unexpired, unfrozen part);
-- what they cannot cover is added to what the user owes. Called by commit_usage for the part of
-- a task's cost beyond the period's allowance, with the period row already locked.
create or replace function app_private.consume_credits(p_user uuid, p_amount_micros bigint, p_reference text)
returns void language plpgsql as $$
declare
  need bigint := p_amount_micros;
  g record;
  take bigint;
begin
  for g in
    select id, left_micros - frozen_micros as spendable from public.credit_grants
    where user_id = p_user and left_micros > frozen_micros and expires_at > now()
    order by purchased_at, id
    for update
  loop
    exit when need <= 0;
    take := least(need, g.spendable);
    update public.credit_grants set left_micros = left_micros - take where id = g.id;
    insert into public.credit_movements (user_id, grant_id, kind, left_micros, reference)
      values (p_user, g.id, 'usage', -take, p_reference);
    need := need - take;
  end loop;
  if need > 0 then
    perform app_private.add_owed(p_user, need);
    insert into public.credit_movements (user_id, kind, owed_micros, reference)
      values (p_user, 'usage_owed', need, p_reference);
  end if;
end $$;

-- Credits exactly what was paid, once per source (e.g. a PaymentIntent id), as a grant that
-- expires 12 months after the purchase. The grant pays what the user owes first. Locks the
-- user's period row first, like every other change of what remains.
create or replace function app_private.grant_credit(
  p_user uuid, p_amount_micros bigint, p_source text, p_source_id text, p_actor text,
  p_purchased_at timestamptz default now()
) returns table (granted boolean, credit_id uuid)
language plpgsql as $$
declare
  grant_row public.credit_grants;
  owed bigint;
  pay bigint;
begin
  perform app_private.lock_usage_period(p_user);
  insert into public.credit_grants (user_id, amount_micros, source, source_id, purchased_at, expires_at, left_micros)
    values (p_user, p_amount_micros, p_source, p_source_id, p_purchased_at, p_purchased_at + interval '12 months', p_amount_micros)
    on conflict (source, source_id) do nothing
    returning * into grant_row;
  if not found then
    return query select false, c.id from public.credit_grants c where c.source = p_source and c.source_id = p_source_id;
    return;
  end if;
  insert into public.credit_movements (user_id, grant_id, kind, left_micros, reference)
    values (p_user, grant_row.id, 'granted', p_amount_micros, p_source_id);
  select a.owed_micros into owed from public.credit_accounts a where a.user_id = p_user for update;
  pay := least(coalesce(owed, 0), p_amount_micros);
  if pay > 0 then
    update public.credit_grants set left_micros = left_micros - pay where id = grant_row.id;
    perform app_private.add_owed(p_user, -pay);
    insert into public.credit_movements (user_id, grant_id, kind, left_micros, owed_micros, reference)
      values (p_user, grant_row.id, 'owed_paid', -pay, -pay, p_source_id);
  end if;
  insert into public.audit_log (user_id, actor, action, entity_type, entity_id, amount_micros, details)
    values (p_user, p_actor, 'credit.granted', p_source, p_source_id, p_amount_micros,
            jsonb_build_object('expiresAt', grant_row.expires_at, 'owedPaidMicros', pay));
  return query select true, grant_row.id;
end $$;

-- Takes a refunded amount out of a grant: p_total_micros is the source's refunded total so far
-- (Stripe's charge.amount_refunded), so repeated and reordered events apply the difference once.
-- What is left (unfrozen) of the grant goes first; the rest was already spent and becomes owed.
-- Returns nulls when the payment has no grant (yet: settle_top_up applies it when it credits).
create or replace function app_private.refund_credit(
  p_source text, p_source_id text, p_total_micros bigint, p_reference text, p_actor text,
  out user_id uuid, out refunded_micros bigint, out taken_micros bigint, out owed_micros bigint
) language plpgsql as $$
declare
  g public.credit_grants;
  delta bigint;
begin
  select * into g from public.credit_grants c where c.source = p_source and c.source_id = p_source_id;
  if not found then
    return;
  end if;
  perform app_private.lock_usage_period(g.user_id);
  select * into g from public.credit_grants c where c.id = g.id for update;
  user_id := g.user_id;
  delta := least(p_total_micros, g.amount_micros) - g.refunded_micros;
  if delta <= 0 then
    refunded_micros := 0; taken_micros := 0; owed_micros := 0;
    return;
  end if;
  taken_micros := least(delta, g.left_micros - g.frozen_micros);
  owed_micros := delta - taken_micros;
  refunded_micros := delta;
  update public.credit_grants c set left_micros = c.left_micros - taken_micros, refunded_micros = c.refunded_micros + delta
    where c.id = g.id;
  insert into public.credit_movements (user_id, grant_id, kind, left_micros, refunded_micros, owed_micros, reference)
    values (g.user_id, g.id, 'refund', -taken_micros, delta, owed_micros, p_reference);
  if owed_micros > 0 then
    perform app_private.add_owed(g.user_id, owed_micros);
  end if;
  insert into public.audit_log (user_id, actor, action, entity_type, entity_id, amount_micros, details)
    values (g.user_id, p_actor, 'credit.refunded', p_source, p_source_id, delta,
            jsonb_build_object('takenMicros', taken_micros, 'owedMicros', owed_micros, 'reference', p_reference));
end $$;

-- A dispute opened on a grant's payment: freezes what it can of the disputed amount (the unfrozen
-- part of what is left), so it cannot be spent. Returns the amount frozen.
create or replace function app_private.freeze_credit(p_grant uuid, p_amount_micros bigint, p_reference text)
returns bigint language plpgsql as $$
declare
  g public.credit_grants;
  frozen bigint;
begin
  select * into g from public.credit_grants c where c.id = p_grant;
  perform app_private.lock_usage_period(g.user_id);
  select * into g from public.credit_grants c where c.id = p_grant for update;
  frozen := greatest(least(p_amount_micros, g.left_micros - g.frozen_micros), 0);
  if frozen > 0 then
    update public.credit_grants c set frozen_micros = c.frozen_micros + frozen where c.id = p_grant;
  end if;
  insert into public.credit_movements (user_id, grant_id, kind, frozen_micros, reference)
    values (g.user_id, p_grant, 'dispute_frozen', frozen, p_reference);
  return frozen;
end $$;

-- A dispute closed: won releases what it froze; lost takes the disputed amount back like a
-- refund (the frozen part from what is left, the rest, already spent, becomes owed). Returns
-- what became owed.
create or replace function app_private.settle_frozen_credit(
  p_grant uuid, p_frozen_micros bigint, p_disputed_micros bigint, p_won boolean, p_reference text
) returns bigint language plpgsql as $$
declare
  g public.credit_grants;
  taken bigint;
  delta bigint;
  owed bigint := 0;
begin
  select * into g from public.credit_grants c where c.id = p_grant;
  perform app_private.lock_usage_period(g.user_id);
  select * into g from public.credit_grants c where c.id = p_grant for update;
  if p_won then
    update public.credit_grants c set frozen_micros = c.frozen_micros - p_frozen_micros where c.id = p_grant;
    insert into public.credit_movements (user_id, grant_id, kind, frozen_micros, reference)
      values (g.user_id, p_grant, 'dispute_released', -p_frozen_micros, p_reference);
    return 0;
  end if;
  -- Never more than was paid and not yet refunded.
  delta := least(p_disputed_micros, g.amount_micros - g.refunded_micros);
  taken := least(p_frozen_micros, delta);
  owed := delta - taken;
  update public.credit_grants c
    set frozen_micros = c.frozen_micros - p_frozen_micros, left_micros = c.left_micros - taken,
        refunded_micros = c.refunded_micros + delta
    where c.id = p_grant;
  insert into public.credit_movements (user_id, grant_id, kind, frozen_micros, left_micros, refunded_micros, owed_micros, reference)
    values (g.user_id, p_grant, 'dispute_lost', -p_frozen_micros, -taken, delta, owed, p_reference);
  if owed > 0 then
    perform app_private.add_owed(g.user_id, owed);
  end if;
  return owed;
end $$;
