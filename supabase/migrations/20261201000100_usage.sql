-- Baseline, usage: the usage periods, reservations (holds), the usage ledger, and the usage
-- functions the task runner calls through the server.
--
-- Each operation is one statement from the server (one round trip), atomic, and serialised per
-- user by a row lock on the user's current user_usage row, so concurrent reservations can never
-- spend past the allowance and a retried commit counts once.
--
-- Lock order: commit locks the reservation, then the period row, then the ledger key (or, without
-- a reservation, the period row, then the ledger key); reserve locks the period row, then inserts
-- a new reservation; release and the sweep lock reservations only; budget evaluation locks the
-- period row only. Credit changes (20261201000150_credits.sql) lock the period row, then credit
-- grants in purchase order, then the credit account; a commit beyond the allowance takes the
-- same grant and account locks after its period row. No two of them wait on each other in
-- opposite orders.
--
-- Hot path notes (bench:usage, docs/benchmarks.md):
--   * usage_reservations' rules are domains rather than CHECK constraints. PostgreSQL 15 parses
--     and plans every CHECK of a table from its stored text on each INSERT and UPDATE (once per
--     statement, never cached), and each task inserts and then settles a reservation; a domain's
--     check is compiled once per session (type cache). Same rules, same SQLSTATE (23514) when
--     broken; clients still receive the base types (int8, text). Reservations are only written
--     by these functions; raw SQL that uses one untyped parameter both as one of these columns
--     and as a plain bigint/text must cast it.
--   * period_in_force finds the newest in-force subscription with one index probe (a partial
--     index in start order, so no sort): four plan nodes.
--   * Functions on the hot path are PL/pgSQL rather than SQL where PostgreSQL 15 would plan a
--     non-inlinable SQL function anew on every call; PL/pgSQL caches its plans.

-- ---------------------------------------------------------------------------------------------
-- user_usage: one row per user and usage period (the specification had one row per user that a
-- payment "reset"; keeping every period keeps history and makes resets unnecessary).
-- used_micros is maintained atomically and equals the sum of the period's usage_events. Credits
-- are not per period: they are a balance of grants (20261201000150_credits.sql).
-- used_micros is a bigint, so a period's usage is below 2^63 micro-dollars and its amount in cents
-- below 2^63 / 10^4 < 2^53: a period's usage in cents is always an exact JavaScript number.
-- Owner: system. Readers: the user themself.
create table public.user_usage (
  id                  uuid primary key default gen_random_uuid(),
  user_id             uuid not null references public.users (id) on delete cascade,
  period_start        timestamptz not null,
  period_end          timestamptz not null check (period_end > period_start),
  plan_id             text not null references public.plans (id),
  allowance_micros    bigint not null check (allowance_micros >= 0),
  used_micros         bigint not null default 0 check (used_micros >= 0),
  -- The specification's columns, derived so they can never disagree with the counters.
  monthly_usage_cents bigint generated always as ((used_micros + 9999) / 10000) stored,
  reset_date          timestamptz generated always as (period_end) stored,
  created_at          timestamptz not null default now(),
  updated_at          timestamptz not null default now(),
  unique (user_id, period_start)
) with (fillfactor = 50); -- room on each page so the per-task counter update stays a HOT update
comment on table public.user_usage is 'Owner: system (usage functions, webhooks). Readers: the user themself.';
-- No touch trigger here: this row is updated on every task, so the usage functions set
-- updated_at themselves and spare a trigger call on the hottest path.
alter table public.user_usage enable row level security;
revoke all on public.user_usage from anon, authenticated;
grant select on public.user_usage to authenticated;
create policy user_usage_select_own on public.user_usage for select to authenticated
  using (user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------------
-- usage_reservations: allowance held by a running task until it commits, is released, or the
-- hold lapses at expires_at (a crashed task must not hold allowance forever).
-- Owner: system (the task runner, through the usage functions). Readers: the user themself: the
-- dashboard's "on hold" is read through RLS. A reservation id is of no use to a user: only the
-- task runner may commit or release (POST /api/usage/*, lib/billing/usage.ts).
-- No foreign keys on this table and on usage_events: they sit on the hottest path, and each
-- key check is a row lock on the referenced row (the user's) taken by every task. Integrity
-- comes from the usage functions, which only write for a user whose user_usage row (which does
-- reference users) exists.
create domain public.reservation_amount as bigint check (value > 0);
create domain public.reservation_status as text check (value in ('open', 'committed', 'released', 'expired'));
create domain public.idempotency_key_text as text check (length(value) between 1 and 255);

create table public.usage_reservations (
  id              uuid primary key default gen_random_uuid(),
  user_id         uuid not null,
  period_start    timestamptz not null,
  amount_micros   public.reservation_amount not null,
  status          public.reservation_status not null default 'open',
  -- The plan and rates in force when the task was reserved: its commit is priced at these.
  plan_id            text not null,
  token_rate_micros  bigint not null,
  minute_rate_micros bigint not null,
  idempotency_key public.idempotency_key_text not null,
  expires_at      timestamptz not null,
  created_at      timestamptz not null default now(),
  settled_at      timestamptz,
  unique (user_id, idempotency_key)
);
comment on table public.usage_reservations is 'Owner: system (usage functions). Readers: the user themself.';
-- Only open holds are indexed for the per-reservation sum, so it stays small however many
-- reservations a user has made.
create index usage_reservations_open_idx on public.usage_reservations (user_id, expires_at) where status = 'open';
alter table public.usage_reservations enable row level security;
revoke all on public.usage_reservations from anon, authenticated;
grant select on public.usage_reservations to authenticated;
create policy usage_reservations_select_own on public.usage_reservations for select to authenticated
  using (user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------------
-- usage_events: the append-only usage ledger. One row per committed task, with the rates it was
-- priced at, so a later plan change never reprices history.
-- Owner: system. Readers: the user themself; admins (all rows).
create table public.usage_events (
  id                 uuid primary key default gen_random_uuid(),
  user_id            uuid not null,
  period_start       timestamptz not null,
  reservation_id     uuid,
  agent              text not null check (length(agent) between 1 and 100),
  tokens             bigint not null check (tokens >= 0),
  execution_ms       bigint not null check (execution_ms >= 0),
  plan_id            text not null check (plan_id in ('starter', 'pro', 'enterprise')),
  token_rate_micros  bigint not null,
  minute_rate_micros bigint not null,
  cost_micros        bigint not null check (cost_micros >= 0),
  idempotency_key    text not null check (length(idempotency_key) between 1 and 255),
  created_at         timestamptz not null default now(),
  unique (user_id, idempotency_key)
);
comment on table public.usage_events is
  'Owner: system (append-only usage ledger). Readers: the user themself; admins (all rows).';
create index usage_events_user_time_idx on public.usage_events (user_id, created_at);
-- A month over all users (the operators' figures) reads the ledger by created_at. The ledger is
-- append-only and written in time order, so created_at follows the physical order of the rows
-- and a BRIN index (a min/max per 128 pages) narrows a month to its own pages at next to no
-- cost per insert. autosummarize keeps the ranges filled since the last vacuum summarised.
create index usage_events_created_brin on public.usage_events using brin (created_at) with (autosummarize = on);
create trigger usage_events_append_only before update or delete on public.usage_events
  for each row execute function app_private.forbid_change();
alter table public.usage_events enable row level security;
revoke all on public.usage_events from anon, authenticated;
grant select on public.usage_events to authenticated;
create policy usage_events_select_own on public.usage_events for select to authenticated
  using (user_id = (select auth.uid()));
create policy usage_events_select_admin on public.usage_events for select to authenticated
  using ((select app_private.is_admin()));

-- ---------------------------------------------------------------------------------------------
-- Pricing and periods.

-- Cost of a task in micro-dollars at the given rates. Tokens are exact; time is rounded half up
-- to the micro-dollar (at most $0.0000005 per task). Mirrors lib/billing/cost.ts.
create or replace function app_private.task_cost_micros(
  p_tokens bigint, p_execution_ms bigint, p_token_rate_micros bigint, p_minute_rate_micros bigint
) returns bigint language sql immutable as $$
  select p_tokens * p_token_rate_micros + (p_execution_ms * p_minute_rate_micros + 30000) / 60000
$$;
-- Pure; users' own figures re-price their events at every plan's rates with it, inside their
-- RLS transaction.
grant execute on function app_private.task_cost_micros(bigint, bigint, bigint, bigint) to authenticated, service_role;

-- The plan and usage period in force for a user at a time (redefined for simulated clocks by
-- 20261201400000_period_in_force_simulated_clock.sql): the newest in-force subscription's
-- period (it stays current until a paid renewal moves it), else the calendar month in UTC on
-- Starter. The subscription is read in one sub-select (OFFSET 0 keeps the planner from copying
-- it once per output column).
create type app_private.subscription_period as (plan_id text, period_start timestamptz, period_end timestamptz);

create or replace function app_private.period_in_force(p_user uuid, p_at timestamptz default now())
returns table (plan_id text, period_start timestamptz, period_end timestamptz)
language sql stable as $$
  select coalesce((x.sub).plan_id, 'starter'),
         coalesce((x.sub).period_start, date_trunc('month', p_at at time zone 'UTC') at time zone 'UTC'),
         coalesce((x.sub).period_end,
                  (date_trunc('month', p_at at time zone 'UTC') + interval '1 month') at time zone 'UTC')
  from (
    select (select (s.plan_id, s.current_period_start, s.current_period_end)::app_private.subscription_period
            from public.subscriptions s
            where s.user_id = p_user
              and s.status in ('active', 'trialing', 'past_due')
              and s.current_period_start <= p_at
            order by s.current_period_start desc
            limit 1) as sub
    offset 0
  ) as x
$$;
grant execute on function app_private.period_in_force(uuid, timestamptz) to authenticated, service_role;

-- A plan change in the middle of a period changes the period's allowance in proportion to the
-- time left, as Stripe prorates the price: upgrading Pro -> Enterprise with a tenth of the period
-- left adds a tenth of the difference ($45), not the whole new allowance (which the prorated
-- payment did not buy); a downgrade takes back the unused share. The allowance of a period is
-- therefore the one stored on its user_usage row once the row exists.
-- The allowance after moving from plan p_from to p_to at p_at, within [p_period_start, p_period_end).
create or replace function app_private.prorated_allowance(
  p_allowance bigint, p_from text, p_to text, p_period_start timestamptz, p_period_end timestamptz, p_at timestamptz
) returns bigint language sql stable as $$
  select p_allowance + round(
           ((select allowance_micros from public.plans where id = p_to) - (select allowance_micros from public.plans where id = p_from))
           * greatest(0, least(1, extract(epoch from (p_period_end - p_at))
                                  / nullif(extract(epoch from (p_period_end - p_period_start)), 0))))::bigint
$$;
grant execute on function app_private.prorated_allowance(bigint, text, text, timestamptz, timestamptz, timestamptz) to authenticated, service_role;

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

-- Read-only view of a user's allowance in the period in force, with the period's own (possibly
-- prorated) allowance once its row exists. Security invoker: called as `authenticated`, RLS
-- limits it to the caller's own rows. PL/pgSQL so its plan is cached.
--   remaining = max(allowance - used, 0) + spendable credits - open holds - owed
-- Usage beyond the allowance has already been taken from credits or added to owed by the commit
-- that went beyond it (commit_usage), so it is not subtracted twice. This is the rule
-- "allowance + spendable credits - usage - holds - owed" with credits and owed counted before
-- this period's usage spent them.
create or replace function app_private.usage_snapshot(p_user uuid)
returns table (
  plan_id text, period_start timestamptz, period_end timestamptz, allowance_micros bigint,
  used_micros bigint, credits_micros bigint, reserved_micros bigint, owed_micros bigint, remaining_micros bigint
) language plpgsql stable as $$
begin
  return query
  select a.plan_id, a.period_start, a.period_end, a.allowance, a.used, c.spendable, a.reserved, c.owed,
         greatest(a.allowance - a.used, 0) + c.spendable - a.reserved - c.owed
  from (
    select p.plan_id, p.period_start, p.period_end,
           case when u.id is null then pl.allowance_micros
                when u.plan_id = p.plan_id then u.allowance_micros
                else app_private.prorated_allowance(u.allowance_micros, u.plan_id, p.plan_id, u.period_start, p.period_end, now())
           end as allowance,
           coalesce(u.used_micros, 0) as used,
           app_private.open_reserved_micros(p_user) as reserved
    from app_private.period_in_force(p_user) p
    join public.plans pl on pl.id = p.plan_id
    left join public.user_usage u on u.user_id = p_user and u.period_start = p.period_start
  ) a
  cross join app_private.credit_position(p_user) c;
end $$;
grant execute on function app_private.usage_snapshot(uuid) to authenticated, service_role;

-- The user's user_usage row for the period in force, created on first use and locked FOR UPDATE
-- for the rest of the transaction. Keeps the row's plan and period end in step with the
-- subscription; a plan that changed since the row was written prorates its allowance instead of
-- replacing it. This lock is what serialises a user's usage operations.
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
      set plan_id = p.plan_id,
          allowance_micros = case when usage_row.plan_id = p.plan_id then u.allowance_micros
                                  else app_private.prorated_allowance(u.allowance_micros, usage_row.plan_id, p.plan_id,
                                                                      u.period_start, p.period_end, now()) end,
          period_end = p.period_end, updated_at = now()
      where u.id = usage_row.id
      returning * into usage_row;
  end if;
  return usage_row;
end $$;

-- ---------------------------------------------------------------------------------------------
-- The task runner's operations.

-- Hold `p_amount_micros` of the user's allowance for `p_ttl_seconds`, at the rates of the plan in
-- force (stored on the hold: its commit is priced at them). Not allowed (and nothing written)
-- when what remains is short. Replays the first answer for a repeated key.
create or replace function app_private.reserve_usage(
  p_user uuid, p_amount_micros bigint, p_idempotency_key text, p_ttl_seconds int,
  out reservation_id uuid, out allowed boolean, out duplicate boolean, out amount_micros bigint,
  out remaining_micros bigint, out shortfall_micros bigint, out expires_at timestamptz
) language plpgsql as $$
declare
  usage_row public.user_usage;
  v_period_start timestamptz;
  v_plan text;
  v_token_rate bigint;
  v_minute_rate bigint;
  v_free bigint;      -- what is left of the period's allowance
  v_held bigint;      -- open, unexpired holds
  v_spendable bigint; -- credits that can be spent
  v_owed bigint;
  existing public.usage_reservations;
begin
  -- Common case in one statement: the period row exists and matches the plan in force.
  select u.period_start, u.plan_id, pl.token_rate_micros, pl.minute_rate_micros, greatest(u.allowance_micros - u.used_micros, 0)
    into v_period_start, v_plan, v_token_rate, v_minute_rate, v_free
    from app_private.period_in_force(p_user) f
    join public.user_usage u on u.user_id = p_user and u.period_start = f.period_start
      and u.plan_id = f.plan_id and u.period_end = f.period_end
    join public.plans pl on pl.id = u.plan_id
    for update of u;
  if not found then
    usage_row := app_private.lock_usage_period(p_user);
    select usage_row.period_start, pl.id, pl.token_rate_micros, pl.minute_rate_micros,
           greatest(usage_row.allowance_micros - usage_row.used_micros, 0)
      into v_period_start, v_plan, v_token_rate, v_minute_rate, v_free
      from public.plans pl where pl.id = usage_row.plan_id;
  end if;

  -- Summed after the lock: this statement's snapshot includes every hold committed by whoever
  -- held the lock before us, so concurrent reservations cannot overspend.
  select coalesce(sum(r.amount_micros), 0)::bigint into v_held from public.usage_reservations r
    where r.user_id = p_user and r.status = 'open' and r.expires_at > now();
  select c.spendable, c.owed into v_spendable, v_owed from app_private.credit_position(p_user) c;
  amount_micros := p_amount_micros;
  remaining_micros := v_free + v_spendable - v_held - v_owed;

  if remaining_micros >= p_amount_micros then
    insert into public.usage_reservations as r (user_id, period_start, amount_micros, idempotency_key, expires_at,
        plan_id, token_rate_micros, minute_rate_micros)
      values (p_user, v_period_start, p_amount_micros, p_idempotency_key, now() + make_interval(secs => p_ttl_seconds),
              v_plan, v_token_rate, v_minute_rate)
      on conflict (user_id, idempotency_key) do nothing
      returning r.id, r.expires_at into reservation_id, expires_at;
    if found then
      allowed := true; duplicate := false; shortfall_micros := 0;
      remaining_micros := remaining_micros - p_amount_micros;
      return;
    end if;
  end if;

  -- Short, or the key was used before: a retry gets the first answer back.
  select * into existing from public.usage_reservations r
    where r.user_id = p_user and r.idempotency_key = p_idempotency_key;
  if found then
    if existing.amount_micros <> p_amount_micros then
      raise exception 'idempotency key reused with a different amount' using errcode = 'BL409';
    end if;
    reservation_id := existing.id; allowed := true; duplicate := true;
    shortfall_micros := 0; expires_at := existing.expires_at;
    return;
  end if;
  allowed := false; duplicate := false; shortfall_micros := p_amount_micros - remaining_micros;
end $$;

-- Budget alerts for one period row: one notification per threshold reached (80% and 100% of the
-- monthly budget), once per period each by dedupe_key. Amounts are shown in dollars; usage is
-- rounded up to the cent, as the dashboard shows it.
create or replace function app_private.notify_budget_thresholds(
  p_user uuid, p_period_start timestamptz, p_budget_cents integer, p_used_micros bigint
) returns void language plpgsql as $$
declare
  usage_cents bigint := (p_used_micros + 9999) / 10000;
  period_key text := to_char(p_period_start at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
  budget_text text := '$' || to_char(p_budget_cents / 100.0, 'FM999,999,999,990.00');
  usage_text text := '$' || to_char(usage_cents / 100.0, 'FM999,999,999,990.00');
  details jsonb := jsonb_build_object('budgetCents', p_budget_cents, 'usageCents', usage_cents, 'periodStart', period_key);
begin
  -- 80% of budget_cents x 10,000 micro-dollars is budget_cents x 8,000: exact in integers.
  if p_used_micros >= p_budget_cents::bigint * 8000 then
    insert into public.notifications (user_id, kind, title, body, data, dedupe_key)
      values (p_user, 'budget_80', 'You have used 80% of your monthly budget',
              'Your usage this period is ' || usage_text || ' of your ' || budget_text || ' monthly budget.',
              details, 'budget_80:' || period_key)
      on conflict (user_id, dedupe_key) do nothing;
  end if;
  if p_used_micros >= p_budget_cents::bigint * 10000 then
    insert into public.notifications (user_id, kind, title, body, data, dedupe_key)
      values (p_user, 'budget_100', 'You have reached your monthly budget',
              'Your usage this period is ' || usage_text || ', which has reached your ' || budget_text || ' monthly budget.',
              details, 'budget_100:' || period_key)
      on conflict (user_id, dedupe_key) do nothing;
  end if;
end $$;

-- The user's budget against the period in force, alerting at once for every threshold usage has
-- already reached (a budget set or lowered below current usage). It locks the period row first:
-- a commit in flight finishes before and its usage is seen here; a commit after reads the new
-- budget (commit_usage reads it after taking the same lock). Returns the figures it judged.
create or replace function app_private.evaluate_budget_alerts(p_user uuid)
returns table (monthly_budget_cents integer, used_micros bigint, period_start timestamptz, period_end timestamptz)
language plpgsql as $$
declare
  usage_row public.user_usage;
  budget integer;
begin
  usage_row := app_private.lock_usage_period(p_user);
  select b.monthly_budget_cents into budget from public.budgets b where b.user_id = p_user;
  if budget is not null then
    perform app_private.notify_budget_thresholds(p_user, usage_row.period_start, budget, usage_row.used_micros);
  end if;
  return query select budget, usage_row.used_micros, usage_row.period_start, usage_row.period_end;
end $$;

-- Record a finished task: settle its reservation, add its cost to the period, append it to the
-- ledger with the rates it was priced at, spend credits (then record what is owed) for the part
-- beyond the period's allowance, and alert when usage crossed 80% or 100% of the user's budget.
--
-- Pricing: a task committed against its reservation is priced at the rates stored on the
-- reservation (the plan in force when it was reserved), and counted in the reservation's period
-- unless that period has ended (then in the period in force). A task without a reservation is
-- priced at the plan in force. A cost above p_max_cost_micros (the per-task ceiling, when given)
-- raises BL422 and nothing is written.
--
-- Usage is never forgiven: the part of a cost beyond what is left of the period's allowance is
-- taken from credits, oldest grant first (consume_credits); what credits cannot cover is added to
-- what the user owes (commits above their reservation, late commits of lapsed holds).
--
-- A repeated key returns the first event: a retry racing the first call waits for it on the
-- reservation's row lock (without a reservation, on the period row), then finds its event.
-- Raising aborts the whole call, so nothing written before a raise survives it.
create or replace function app_private.commit_usage(
  p_user uuid, p_reservation_id uuid, p_agent text, p_tokens bigint, p_execution_ms bigint,
  p_idempotency_key text, p_max_cost_micros bigint default null,
  out event_id uuid, out duplicate boolean, out cost_micros bigint, out plan_id text, out remaining_micros bigint
) language plpgsql as $$
declare
  settled_period timestamptz;  -- period of the reservation this call settled
  v_plan text;                 -- the plan and rates the task is priced at
  v_token_rate bigint;
  v_minute_rate bigint;
  v_cost bigint;
  counted boolean := false;    -- the cost is on a period row, described by the three below
  v_period timestamptz;
  v_used bigint;               -- the period's usage after this task
  v_allowance bigint;
  v_beyond bigint;             -- the part of this task's cost beyond the period's allowance
  v_held bigint;
  v_budget integer;
  v_spendable bigint;
  v_owed bigint;
  event public.usage_events;   -- the first event of a retried key
  reservation_status text;
begin
  if p_reservation_id is not null then
    update public.usage_reservations r set status = 'committed', settled_at = now()
      where r.id = p_reservation_id and r.user_id = p_user and r.status in ('open', 'expired')
      returning r.period_start, r.plan_id, r.token_rate_micros, r.minute_rate_micros
      into settled_period, v_plan, v_token_rate, v_minute_rate;
    if found then
      v_cost := app_private.task_cost_micros(p_tokens, p_execution_ms, v_token_rate, v_minute_rate);
      -- The reservation's period, unless it has ended. (An expired hold can still be committed:
      -- the task ran, and its usage must be counted.)
      update public.user_usage u set used_micros = u.used_micros + v_cost, updated_at = now()
        where u.user_id = p_user and u.period_start = settled_period and u.period_end > now()
        returning u.period_start, u.used_micros, u.allowance_micros into v_period, v_used, v_allowance;
      counted := found;
    else
      -- Nothing to settle: a retry of a commit that went through, or a reservation that is
      -- unknown, someone else's, released, or committed under another key.
      select * into event from public.usage_events e
        where e.user_id = p_user and e.idempotency_key = p_idempotency_key;
      if not found then
        select r.status into reservation_status from public.usage_reservations r
          where r.id = p_reservation_id and r.user_id = p_user;
        if not found then
          raise exception 'reservation not found' using errcode = 'BL404';
        end if;
        raise exception 'reservation is already %', reservation_status using errcode = 'BL409';
      end if;
    end if;
  else
    -- Without a reservation, a retried key is answered with its first event.
    select * into event from public.usage_events e
      where e.user_id = p_user and e.idempotency_key = p_idempotency_key;
  end if;

  if event.id is null then
    if v_plan is null then
      -- No reservation: the rates of the plan in force.
      select f.plan_id, pl.token_rate_micros, pl.minute_rate_micros into v_plan, v_token_rate, v_minute_rate
        from app_private.period_in_force(p_user) f join public.plans pl on pl.id = f.plan_id;
      v_cost := app_private.task_cost_micros(p_tokens, p_execution_ms, v_token_rate, v_minute_rate);
    end if;
    if p_max_cost_micros is not null and v_cost > p_max_cost_micros then
      raise exception 'task cost % is above the per-task ceiling of % micro-dollars', v_cost, p_max_cost_micros
        using errcode = 'BL422';
    end if;
    if not counted then
      -- No reservation, or its period has ended: the period in force.
      update public.user_usage u set used_micros = u.used_micros + v_cost, updated_at = now()
        from app_private.period_in_force(p_user) f
        where u.user_id = p_user and u.period_start = f.period_start and u.plan_id = f.plan_id
          and u.period_end = f.period_end
        returning u.period_start, u.used_micros, u.allowance_micros into v_period, v_used, v_allowance;
      if not found then
        -- First use of the period, or the plan changed: bring the row in step, then count.
        v_period := (app_private.lock_usage_period(p_user)).period_start;
        update public.user_usage u set used_micros = u.used_micros + v_cost, updated_at = now()
          where u.user_id = p_user and u.period_start = v_period
          returning u.period_start, u.used_micros, u.allowance_micros into v_period, v_used, v_allowance;
      end if;
    end if;

    insert into public.usage_events as e (user_id, period_start, reservation_id, agent, tokens, execution_ms,
        plan_id, token_rate_micros, minute_rate_micros, cost_micros, idempotency_key)
      values (p_user, v_period, p_reservation_id, p_agent, p_tokens, p_execution_ms,
              v_plan, v_token_rate, v_minute_rate, v_cost, p_idempotency_key)
      on conflict (user_id, idempotency_key) do nothing
      returning e.id, e.plan_id, e.cost_micros into event_id, plan_id, cost_micros;
    if not found then
      if p_reservation_id is not null then
        -- The key names another event (this reservation was still open, so not its own).
        raise exception 'idempotency key reused with different usage' using errcode = 'BL409';
      end if;
      -- A concurrent retry recorded it first: take our cost back and answer with its event.
      update public.user_usage u set used_micros = u.used_micros - v_cost
        where u.user_id = p_user and u.period_start = v_period;
      select * into event from public.usage_events e
        where e.user_id = p_user and e.idempotency_key = p_idempotency_key;
    end if;
  end if;

  if event_id is null then
    -- A retry: the first event must describe the same task.
    if event.tokens <> p_tokens or event.execution_ms <> p_execution_ms or event.agent <> p_agent
       or event.reservation_id is distinct from p_reservation_id then
      raise exception 'idempotency key reused with different usage' using errcode = 'BL409';
    end if;
    event_id := event.id; duplicate := true; cost_micros := event.cost_micros; plan_id := event.plan_id;
    remaining_micros := (select s.remaining_micros from app_private.usage_snapshot(p_user) s);
    return;
  end if;

  -- The part of the cost beyond the allowance: credits first, then owed.
  v_beyond := greatest(v_used - v_allowance, 0) - greatest(v_used - v_cost - v_allowance, 0);
  if v_beyond > 0 then
    perform app_private.consume_credits(p_user, v_beyond, 'usage_event:' || event_id::text);
  end if;

  -- What is still held, the budget and the credit position, read in a statement that starts after
  -- the period row's lock is held: every hold committed before is seen, and a budget saved before.
  select coalesce(sum(r.amount_micros), 0)::bigint,
         (select b.monthly_budget_cents from public.budgets b where b.user_id = p_user)
    into v_held, v_budget
    from public.usage_reservations r
    where r.user_id = p_user and r.status = 'open' and r.expires_at > now();
  select c.spendable, c.owed into v_spendable, v_owed from app_private.credit_position(p_user) c;
  duplicate := false;
  remaining_micros := greatest(v_allowance - v_used, 0) + v_spendable - v_held - v_owed;

  if v_budget is not null
     and ((v_used - cost_micros < v_budget::bigint * 8000 and v_used >= v_budget::bigint * 8000)
          or (v_used - cost_micros < v_budget::bigint * 10000 and v_used >= v_budget::bigint * 10000)) then
    perform app_private.notify_budget_thresholds(p_user, v_period, v_budget, v_used);
  end if;
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
