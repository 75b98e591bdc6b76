-- Usage hot path, second pass (bench:usage, docs/benchmarks.md), and budget alerts.
--
-- Same answers and guarantees as 20261125000100_usage_functions.sql; less work per call:
--   * usage_reservations' CHECK constraints become domains. PostgreSQL 15 parses and plans
--     every CHECK of a table from its stored text on each INSERT and UPDATE (once per statement,
--     never cached), and each task inserts and then settles a reservation; a domain's check is
--     compiled once per session (type cache). Same rules, same SQLSTATE (23514) when broken;
--     clients still receive the base types (int8, text). Reservations are only written by these
--     functions; raw SQL that uses one untyped parameter both as one of these columns and as a
--     plain bigint/text must cast it.
--   * period_in_force finds the newest in-force subscription with one index probe (a partial
--     index in start order, so no sort): four plan nodes instead of six.
--   * reserve_usage: no nested function call for the held sum.
--   * commit_usage of a reservation counts the task in the reservation's period at the rates of
--     the plan on that period row, which reserve_usage brought in step with the plan in force
--     when the task was reserved (the plan in force when the task ran), so period_in_force is
--     not evaluated again. When that period has ended, and for a commit without a reservation,
--     the period in force is looked up as before.
--   * Budget alerts (budget_80 / budget_100, once per period each): commit_usage checks the
--     user's budget in a statement it runs anyway (one primary-key probe), and
--     evaluate_budget_alerts checks at once when a budget is set or lowered.
--
-- Lock order: commit locks the reservation, then the period row, then the ledger key (or, without
-- a reservation, the period row, then the ledger key); reserve locks the period row, then inserts
-- a new reservation; release and the sweep lock reservations only; budget evaluation and
-- grant_credit lock the period row only. No two of them wait on each other in opposite orders.

-- ---------------------------------------------------------------------------------------------
-- usage_reservations' rules as domains (the same conditions as the CHECKs they replace).
create domain public.reservation_amount as bigint check (value > 0);
create domain public.reservation_status as text check (value in ('open', 'committed', 'released', 'expired'));
create domain public.idempotency_key_text as text check (length(value) between 1 and 255);

alter table public.usage_reservations
  drop constraint usage_reservations_amount_micros_check,
  drop constraint usage_reservations_status_check,
  drop constraint usage_reservations_idempotency_key_check,
  alter column amount_micros type public.reservation_amount,
  alter column status type public.reservation_status,
  alter column idempotency_key type public.idempotency_key_text;

-- ---------------------------------------------------------------------------------------------
-- The plan and usage period in force: unchanged meaning (the newest in-force subscription's
-- period, else the calendar month in UTC on Starter), cheaper plan. The subscription is read in
-- one sub-select (OFFSET 0 keeps the planner from copying it once per output column).
create type app_private.subscription_period as (plan_id text, period_start timestamptz, period_end timestamptz);

create index subscriptions_in_force_idx on public.subscriptions (user_id, current_period_start desc)
  where status in ('active', 'trialing', 'past_due');

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

-- ---------------------------------------------------------------------------------------------
-- Hold `p_amount_micros` of the user's allowance for `p_ttl_seconds`. Not allowed (and nothing
-- written) when the remaining allowance is short. Replays the first answer for a repeated key.
create or replace function app_private.reserve_usage(
  p_user uuid, p_amount_micros bigint, p_idempotency_key text, p_ttl_seconds int,
  out reservation_id uuid, out allowed boolean, out duplicate boolean, out amount_micros bigint,
  out remaining_micros bigint, out shortfall_micros bigint, out expires_at timestamptz
) language plpgsql as $$
declare
  usage_row public.user_usage;
  v_period_start timestamptz;
  v_free bigint;      -- allowance + credits - used
  v_held bigint;      -- open, unexpired holds
  existing public.usage_reservations;
begin
  -- Common case in one statement: the period row exists and matches the plan in force.
  select u.period_start, u.allowance_micros + u.credits_micros - u.used_micros into v_period_start, v_free
    from app_private.period_in_force(p_user) f
    join public.user_usage u on u.user_id = p_user and u.period_start = f.period_start
      and u.plan_id = f.plan_id and u.period_end = f.period_end
    for update of u;
  if not found then
    usage_row := app_private.lock_usage_period(p_user);
    v_period_start := usage_row.period_start;
    v_free := usage_row.allowance_micros + usage_row.credits_micros - usage_row.used_micros;
  end if;

  -- Summed after the lock: this statement's snapshot includes every hold committed by whoever
  -- held the lock before us, so concurrent reservations cannot overspend.
  select coalesce(sum(r.amount_micros), 0)::bigint into v_held from public.usage_reservations r
    where r.user_id = p_user and r.status = 'open' and r.expires_at > now();
  amount_micros := p_amount_micros;
  remaining_micros := v_free - v_held;

  if remaining_micros >= p_amount_micros then
    insert into public.usage_reservations as r (user_id, period_start, amount_micros, idempotency_key, expires_at)
      values (p_user, v_period_start, p_amount_micros, p_idempotency_key, now() + make_interval(secs => p_ttl_seconds))
      on conflict (user_id, idempotency_key) do nothing
      returning r.id, r.expires_at into reservation_id, expires_at;
    if found then
      allowed := true; duplicate := false; shortfall_micros := 0;
      remaining_micros := remaining_micros - p_amount_micros;
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
    reservation_id := existing.id; allowed := true; duplicate := true;
    shortfall_micros := 0; expires_at := existing.expires_at;
    return;
  end if;
  allowed := false; duplicate := false; shortfall_micros := p_amount_micros - remaining_micros;
end $$;

-- ---------------------------------------------------------------------------------------------
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

-- ---------------------------------------------------------------------------------------------
-- Record a finished task: settle its reservation, add its cost to the period, append it to the
-- ledger with the rates it was priced at, and alert when usage crossed 80% or 100% of the
-- user's budget. A repeated key returns the first event: a retry racing the first call waits
-- for it on the reservation's row lock (without a reservation, on the period row), then finds
-- its event. Raising aborts the whole call, so nothing written before a raise survives it.
create or replace function app_private.commit_usage(
  p_user uuid, p_reservation_id uuid, p_agent text, p_tokens bigint, p_execution_ms bigint,
  p_idempotency_key text,
  out event_id uuid, out duplicate boolean, out cost_micros bigint, out plan_id text, out remaining_micros bigint
) language plpgsql as $$
declare
  settled_period timestamptz;  -- period of the reservation this call settled
  counted boolean := false;    -- the cost is on a period row; `counted_row` is that row after it
  counted_row record;          -- period_start, plan_id, the rates, used_micros, free, cost
  v_held bigint;
  v_budget integer;
  event public.usage_events;   -- the first event of a retried key
  reservation_status text;
begin
  if p_reservation_id is not null then
    update public.usage_reservations r set status = 'committed', settled_at = now()
      where r.id = p_reservation_id and r.user_id = p_user and r.status in ('open', 'expired')
      returning r.period_start into settled_period;
    if found then
      -- The reservation's period, unless it has ended, at the plan on its row. (An expired hold
      -- can still be committed: the task ran, and its usage must be counted.)
      update public.user_usage u
        set used_micros = u.used_micros
              + app_private.task_cost_micros(p_tokens, p_execution_ms, pl.token_rate_micros, pl.minute_rate_micros),
            updated_at = now()
        from public.plans pl
        where u.user_id = p_user and u.period_start = settled_period and u.period_end > now() and pl.id = u.plan_id
        returning u.period_start, u.plan_id, pl.token_rate_micros, pl.minute_rate_micros, u.used_micros,
                  u.allowance_micros + u.credits_micros - u.used_micros as free,
                  app_private.task_cost_micros(p_tokens, p_execution_ms, pl.token_rate_micros, pl.minute_rate_micros) as cost
        into counted_row;
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
    if not counted then
      -- No reservation, or its period has ended: the period in force, at its plan's rates.
      update public.user_usage u
        set used_micros = u.used_micros
              + app_private.task_cost_micros(p_tokens, p_execution_ms, pl.token_rate_micros, pl.minute_rate_micros),
            updated_at = now()
        from app_private.period_in_force(p_user) f, public.plans pl
        where u.user_id = p_user and u.period_start = f.period_start and u.plan_id = f.plan_id
          and u.period_end = f.period_end and pl.id = f.plan_id
        returning u.period_start, u.plan_id, pl.token_rate_micros, pl.minute_rate_micros, u.used_micros,
                  u.allowance_micros + u.credits_micros - u.used_micros as free,
                  app_private.task_cost_micros(p_tokens, p_execution_ms, pl.token_rate_micros, pl.minute_rate_micros) as cost
        into counted_row;
      if not found then
        -- First use of the period, or the plan changed: bring the row in step, then count.
        perform app_private.lock_usage_period(p_user);
        update public.user_usage u
          set used_micros = u.used_micros
                + app_private.task_cost_micros(p_tokens, p_execution_ms, pl.token_rate_micros, pl.minute_rate_micros),
              updated_at = now()
          from app_private.period_in_force(p_user) f, public.plans pl
          where u.user_id = p_user and u.period_start = f.period_start and pl.id = f.plan_id
          returning u.period_start, u.plan_id, pl.token_rate_micros, pl.minute_rate_micros, u.used_micros,
                    u.allowance_micros + u.credits_micros - u.used_micros as free,
                    app_private.task_cost_micros(p_tokens, p_execution_ms, pl.token_rate_micros, pl.minute_rate_micros) as cost
          into counted_row;
      end if;
    end if;

    insert into public.usage_events as e (user_id, period_start, reservation_id, agent, tokens, execution_ms,
        plan_id, token_rate_micros, minute_rate_micros, cost_micros, idempotency_key)
      values (p_user, counted_row.period_start, p_reservation_id, p_agent, p_tokens, p_execution_ms,
              counted_row.plan_id, counted_row.token_rate_micros, counted_row.minute_rate_micros, counted_row.cost,
              p_idempotency_key)
      on conflict (user_id, idempotency_key) do nothing
      returning e.id, e.plan_id, e.cost_micros into event_id, plan_id, cost_micros;
    if not found then
      if p_reservation_id is not null then
        -- The key names another event (this reservation was still open, so not its own).
        raise exception 'idempotency key reused with different usage' using errcode = 'BL409';
      end if;
      -- A concurrent retry recorded it first: take our cost back and answer with its event.
      update public.user_usage u set used_micros = u.used_micros - counted_row.cost
        where u.user_id = p_user and u.period_start = counted_row.period_start;
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

  -- What is still held, and the budget, read in a statement that starts after the period row's
  -- lock is held: every hold committed before is seen, and a budget saved before it too.
  select coalesce(sum(r.amount_micros), 0)::bigint,
         (select b.monthly_budget_cents from public.budgets b where b.user_id = p_user)
    into v_held, v_budget
    from public.usage_reservations r
    where r.user_id = p_user and r.status = 'open' and r.expires_at > now();
  duplicate := false;
  remaining_micros := counted_row.free - v_held;

  if v_budget is not null
     and ((counted_row.used_micros - cost_micros < v_budget::bigint * 8000
           and counted_row.used_micros >= v_budget::bigint * 8000)
          or (counted_row.used_micros - cost_micros < v_budget::bigint * 10000
              and counted_row.used_micros >= v_budget::bigint * 10000)) then
    perform app_private.notify_budget_thresholds(p_user, counted_row.period_start, v_budget, counted_row.used_micros);
  end if;
end $$;
