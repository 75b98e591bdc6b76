-- Usage core in SQL: each operation is one statement from the server (one round trip), atomic,
-- and serialised per user by a row lock on the user's current user_usage row, so concurrent
-- reservations can never spend past the allowance and a retried commit counts once.
--
-- Errors raised here carry SQLSTATEs the server maps to HTTP answers (lib/db/errors.ts):
--   BL404 the named reservation does not exist for this user
--   BL409 an idempotency key was reused with different parameters, or a state conflict

-- Functions are not executable by PUBLIC unless granted below.
alter default privileges in schema app_private revoke execute on functions from public;
grant usage on schema app_private to authenticated, service_role;

-- Cost of a task in micro-dollars at the given rates. Tokens are exact; time is rounded half up
-- to the micro-dollar (at most $0.0000005 per task). Mirrors lib/billing/cost.ts.
create or replace function app_private.task_cost_micros(
  p_tokens bigint, p_execution_ms bigint, p_token_rate_micros bigint, p_minute_rate_micros bigint
) returns bigint language sql immutable as $$
  select p_tokens * p_token_rate_micros + (p_execution_ms * p_minute_rate_micros + 30000) / 60000
$$;

-- The plan and usage period in force for a user at a time: the newest in-force subscription's
-- period (it stays current until a paid renewal moves it), else the calendar month in UTC on Starter.
create or replace function app_private.period_in_force(p_user uuid, p_at timestamptz default now())
returns table (plan_id text, period_start timestamptz, period_end timestamptz)
language sql stable as $$
  select coalesce(s.plan_id, 'starter'),
         coalesce(s.current_period_start, date_trunc('month', p_at at time zone 'UTC') at time zone 'UTC'),
         coalesce(s.current_period_end,
                  (date_trunc('month', p_at at time zone 'UTC') + interval '1 month') at time zone 'UTC')
  from (select 1) as one
  left join lateral (
    select sub.plan_id, sub.current_period_start, sub.current_period_end
    from public.subscriptions sub
    where sub.user_id = p_user
      and sub.status in ('active', 'trialing', 'past_due')
      and sub.current_period_start <= p_at
    order by sub.current_period_start desc
    limit 1
  ) as s on true
$$;

-- Read-only view of a user's allowance in the period in force. Security invoker: called as
-- `authenticated`, RLS limits it to the caller's own rows. PL/pgSQL so its plan is cached.
create or replace function app_private.usage_snapshot(p_user uuid)
returns table (
  plan_id text, period_start timestamptz, period_end timestamptz, allowance_micros bigint,
  used_micros bigint, credits_micros bigint, reserved_micros bigint, remaining_micros bigint
) language plpgsql stable as $$
begin
  return query
  select p.plan_id, p.period_start, p.period_end, pl.allowance_micros,
         coalesce(u.used_micros, 0), coalesce(u.credits_micros, 0), r.reserved,
         pl.allowance_micros + coalesce(u.credits_micros, 0) - coalesce(u.used_micros, 0) - r.reserved
  from app_private.period_in_force(p_user) p
  join public.plans pl on pl.id = p.plan_id
  left join public.user_usage u on u.user_id = p_user and u.period_start = p.period_start
  cross join (select app_private.open_reserved_micros(p_user) as reserved) r;
end $$;
grant execute on function app_private.usage_snapshot(uuid) to authenticated, service_role;
grant execute on function app_private.period_in_force(uuid, timestamptz) to authenticated, service_role;

-- The user's user_usage row for the period in force, created on first use and locked FOR UPDATE
-- for the rest of the transaction. Keeps the row's plan and allowance in step with the plan.
-- This lock is what serialises a user's usage operations.
create or replace function app_private.lock_usage_period(p_user uuid)
returns public.user_usage language plpgsql as $$
declare
  p record;
  usage_row public.user_usage;
begin
  select f.plan_id, f.period_start, f.period_end, pl.allowance_micros
    into p
    from app_private.period_in_force(p_user) f join public.plans pl on pl.id = f.plan_id;
  select * into usage_row from public.user_usage u
    where u.user_id = p_user and u.period_start = p.period_start for update;
  if not found then
    insert into public.user_usage (user_id, period_start, period_end, plan_id, allowance_micros)
      values (p_user, p.period_start, p.period_end, p.plan_id, p.allowance_micros)
      on conflict (user_id, period_start) do nothing;
    select * into usage_row from public.user_usage u
      where u.user_id = p_user and u.period_start = p.period_start for update;
  end if;
  if usage_row.plan_id <> p.plan_id or usage_row.period_end <> p.period_end then
    update public.user_usage u
      set plan_id = p.plan_id, allowance_micros = p.allowance_micros, period_end = p.period_end, updated_at = now()
      where u.id = usage_row.id
      returning * into usage_row;
  end if;
  return usage_row;
end $$;

-- Open, unexpired reservations of a user: the one definition of "allowance on hold". PL/pgSQL
-- rather than SQL because PostgreSQL 15 plans a non-inlinable SQL function anew on every call,
-- and PL/pgSQL caches its plans: this sits on every reserve and commit.
create or replace function app_private.open_reserved_micros(p_user uuid)
returns bigint language plpgsql stable as $$
begin
  return (select coalesce(sum(amount_micros), 0)::bigint from public.usage_reservations
          where user_id = p_user and status = 'open' and expires_at > now());
end $$;
-- usage_snapshot, which users call through RLS, uses it.
grant execute on function app_private.open_reserved_micros(uuid) to authenticated, service_role;

-- Hold `p_amount_micros` of the user's allowance for `p_ttl_seconds`. Not allowed (and nothing
-- written) when the remaining allowance is short. Replays the first answer for a repeated key.
create or replace function app_private.reserve_usage(
  p_user uuid, p_amount_micros bigint, p_idempotency_key text, p_ttl_seconds int,
  out reservation_id uuid, out allowed boolean, out duplicate boolean, out amount_micros bigint,
  out remaining_micros bigint, out shortfall_micros bigint, out expires_at timestamptz
) language plpgsql as $$
declare
  usage_row public.user_usage;
  existing public.usage_reservations;
  created public.usage_reservations;
  remaining bigint;
begin
  -- Common case in one statement: the period row exists and matches the plan in force.
  select u.* into usage_row
    from app_private.period_in_force(p_user) f
    join public.user_usage u on u.user_id = p_user and u.period_start = f.period_start
      and u.plan_id = f.plan_id and u.period_end = f.period_end
    for update of u;
  if not found then
    usage_row := app_private.lock_usage_period(p_user);
  end if;

  remaining := usage_row.allowance_micros + usage_row.credits_micros - usage_row.used_micros
               - app_private.open_reserved_micros(p_user);

  if remaining >= p_amount_micros then
    insert into public.usage_reservations as r (user_id, period_start, amount_micros, idempotency_key, expires_at)
      values (p_user, usage_row.period_start, p_amount_micros, p_idempotency_key,
              now() + make_interval(secs => p_ttl_seconds))
      on conflict (user_id, idempotency_key) do nothing
      returning * into created;
    if found then
      reservation_id := created.id; allowed := true; duplicate := false; amount_micros := created.amount_micros;
      remaining_micros := remaining - p_amount_micros; shortfall_micros := 0; expires_at := created.expires_at;
      return;
    end if;
  end if;

  -- Short of allowance, or the key was used before: a retry gets the first answer back.
  select * into existing from public.usage_reservations r
    where r.user_id = p_user and r.idempotency_key = p_idempotency_key;
  if found then
    if existing.amount_micros <> p_amount_micros then
      raise exception 'idempotency key reused with a different amount' using errcode = 'BL409';
    end if;
    reservation_id := existing.id; allowed := true; duplicate := true; amount_micros := existing.amount_micros;
    remaining_micros := remaining; shortfall_micros := 0; expires_at := existing.expires_at;
    return;
  end if;
  allowed := false; duplicate := false; amount_micros := p_amount_micros;
  remaining_micros := remaining; shortfall_micros := p_amount_micros - remaining;
end $$;

-- Record a finished task: append it to the ledger at the rates of the plan in force, add its
-- cost to the period, and settle its reservation. A repeated key returns the first event.
-- Duplicates are serialised by the ledger's unique (user_id, idempotency_key) index: a retry
-- racing the first call waits for it, then finds its event. Row locks are taken in the same
-- order as reserve_usage (the period row, then the reservation), so the two cannot deadlock.
create or replace function app_private.commit_usage(
  p_user uuid, p_reservation_id uuid, p_agent text, p_tokens bigint, p_execution_ms bigint,
  p_idempotency_key text,
  out event_id uuid, out duplicate boolean, out cost_micros bigint, out plan_id text, out remaining_micros bigint
) language plpgsql as $$
declare
  usage_row public.user_usage;
  event public.usage_events;
  reservation_status text;
begin
  -- The event is priced at the rates of the plan in force, found in the same statement.
  insert into public.usage_events as e (user_id, period_start, reservation_id, agent, tokens, execution_ms,
      plan_id, token_rate_micros, minute_rate_micros, cost_micros, idempotency_key)
    select p_user, f.period_start, p_reservation_id, p_agent, p_tokens, p_execution_ms,
      f.plan_id, pl.token_rate_micros, pl.minute_rate_micros,
      app_private.task_cost_micros(p_tokens, p_execution_ms, pl.token_rate_micros, pl.minute_rate_micros),
      p_idempotency_key
    from app_private.period_in_force(p_user) f join public.plans pl on pl.id = f.plan_id
    on conflict (user_id, idempotency_key) do nothing
    returning * into event;

  if not found then
    select * into event from public.usage_events e
      where e.user_id = p_user and e.idempotency_key = p_idempotency_key;
    if event.tokens <> p_tokens or event.execution_ms <> p_execution_ms or event.agent <> p_agent
       or event.reservation_id is distinct from p_reservation_id then
      raise exception 'idempotency key reused with different usage' using errcode = 'BL409';
    end if;
    event_id := event.id; duplicate := true; cost_micros := event.cost_micros; plan_id := event.plan_id;
    remaining_micros := (select s.remaining_micros from app_private.usage_snapshot(p_user) s);
    return;
  end if;

  -- Adding the cost locks the period row (created on the period's first use).
  update public.user_usage u set used_micros = u.used_micros + event.cost_micros, updated_at = now()
    where u.user_id = p_user and u.period_start = event.period_start
    returning * into usage_row;
  if not found then
    perform app_private.lock_usage_period(p_user);
    update public.user_usage u set used_micros = u.used_micros + event.cost_micros, updated_at = now()
      where u.user_id = p_user and u.period_start = event.period_start
      returning * into usage_row;
  end if;

  if p_reservation_id is not null then
    -- An expired hold can still be committed: the task ran, and its usage must be counted.
    -- Raising below aborts the whole call, so the writes above are undone with it.
    update public.usage_reservations r set status = 'committed', settled_at = now()
      where r.id = p_reservation_id and r.user_id = p_user and r.status in ('open', 'expired')
      returning r.status into reservation_status;
    if not found then
      select r.status into reservation_status from public.usage_reservations r
        where r.id = p_reservation_id and r.user_id = p_user;
      if not found then
        raise exception 'reservation not found' using errcode = 'BL404';
      end if;
      raise exception 'reservation is already %', reservation_status using errcode = 'BL409';
    end if;
  end if;

  event_id := event.id; duplicate := false; cost_micros := event.cost_micros; plan_id := event.plan_id;
  remaining_micros := usage_row.allowance_micros + usage_row.credits_micros - usage_row.used_micros
                      - app_private.open_reserved_micros(p_user);
end $$;

-- Give back a reservation a task no longer needs. Releasing twice is harmless; releasing a
-- lapsed hold records it as expired; releasing a committed reservation is a conflict.
create or replace function app_private.release_usage(p_user uuid, p_reservation_id uuid)
returns table (reservation_id uuid, status text, duplicate boolean)
language plpgsql as $$
declare
  current_status text;
begin
  update public.usage_reservations r
    set status = case when r.expires_at > now() then 'released' else 'expired' end, settled_at = now()
    where r.id = p_reservation_id and r.user_id = p_user and r.status = 'open'
    returning r.status into current_status;
  if found then
    return query select p_reservation_id, current_status, false;
    return;
  end if;
  select r.status into current_status from public.usage_reservations r
    where r.id = p_reservation_id and r.user_id = p_user;
  if not found then
    raise exception 'reservation not found' using errcode = 'BL404';
  end if;
  if current_status = 'committed' then
    raise exception 'reservation is already committed' using errcode = 'BL409';
  end if;
  return query select p_reservation_id, current_status, true;
end $$;

-- Marks lapsed holds as expired (housekeeping: readers already ignore them). Returns how many.
create or replace function app_private.sweep_lapsed_reservations() returns bigint
language sql as $$
  with swept as (
    update public.usage_reservations set status = 'expired', settled_at = now()
    where status = 'open' and expires_at <= now()
    returning 1
  )
  select count(*) from swept
$$;

-- Credit exactly what was paid to the period in force, once per source (e.g. a PaymentIntent id).
create or replace function app_private.grant_credit(
  p_user uuid, p_amount_micros bigint, p_source text, p_source_id text, p_actor text
) returns table (granted boolean, credit_id uuid, period_start timestamptz)
language plpgsql as $$
declare
  usage_row public.user_usage;
  grant_row public.credit_grants;
begin
  usage_row := app_private.lock_usage_period(p_user);
  insert into public.credit_grants (user_id, period_start, amount_micros, source, source_id)
    values (p_user, usage_row.period_start, p_amount_micros, p_source, p_source_id)
    on conflict (source, source_id) do nothing
    returning * into grant_row;
  if not found then
    return query select false, c.id, c.period_start from public.credit_grants c
      where c.source = p_source and c.source_id = p_source_id;
    return;
  end if;
  update public.user_usage u set credits_micros = u.credits_micros + p_amount_micros, updated_at = now()
    where u.id = usage_row.id;
  insert into public.audit_log (user_id, actor, action, entity_type, entity_id, amount_micros, details)
    values (p_user, p_actor, 'credit.granted', p_source, p_source_id, p_amount_micros,
            jsonb_build_object('periodStart', usage_row.period_start));
  return query select true, grant_row.id, grant_row.period_start;
end $$;
