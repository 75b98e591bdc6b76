-- Baseline, core: helpers, users, the plan catalogue, subscriptions, the webhook inbox, budgets,
-- notifications, the audit log, rate limits, and who counts as an operator.
--
-- The baseline (20261201000000..20261201000300) squashes the migrations written before
-- 2026-12-01; nothing had been deployed. Each SQL function is defined once; a later change to
-- one is a new migration that says why in its first lines.
--
-- Conventions
--   * Money is integers: usage in micro-dollars (`*_micros`, 1 USD = 1,000,000), charges in cents.
--   * Every table has row level security, declared beside it. Users (role `authenticated`) may
--     read their own rows; nobody but the system (the database owner role the server connects
--     as, which RLS does not restrict) writes money. Grants are explicit so a missing policy
--     never becomes a hole.
--   * Operators (admins) may read every row of the tables of the admin billing view, and write
--     nothing: see app_private.is_admin() below.
--   * Ledgers (usage_events, credit_grants, audit_log) are append-only, enforced by a trigger.
--   * Errors raised by the functions carry SQLSTATEs the server maps to HTTP answers
--     (lib/db/errors.ts): BL404 (the named object does not exist for this user), BL409 (an
--     idempotency key reused with different parameters, or a state conflict).

create schema if not exists app_private;
revoke all on schema app_private from public;

create or replace function app_private.forbid_change() returns trigger
language plpgsql as $$
begin
  raise exception '% is append-only', tg_table_name using errcode = '42501';
end $$;

create or replace function app_private.touch_updated_at() returns trigger
language plpgsql as $$
begin
  new.updated_at := now();
  return new;
end $$;

-- Functions created from here on are not executable by PUBLIC unless granted beside them.
alter default privileges in schema app_private revoke execute on functions from public;
grant usage on schema app_private to authenticated, service_role;

-- An admin is a signed-in user whose verified access token carries app_metadata.role = 'admin'.
-- app_metadata can only be written with the service-role key (Supabase Auth's admin API), never
-- by the user themself, so the claim is as trustworthy as the token's `sub`. The server sets the
-- verified claims as request.jwt.claims (lib/db/database.ts, as PostgREST does); this reads
-- them with auth.jwt(). The app checks the same claim first (lib/auth/admin.ts): the policies
-- are the second lock, so a missed check in the app still reads only the user's own rows.
--
-- Admins may only READ: every admin policy is `for select`, and no insert/update/delete grant
-- goes with it, so money stays written by the system alone. Replaying a webhook is a system
-- action the server performs after its own admin check (lib/analytics/admin-access.ts).
--
-- The admin policies are permissive, so they are OR-ed with the "own rows" policies: a user
-- sees `user_id = auth.uid() OR is_admin()`. `(select app_private.is_admin())` is an InitPlan,
-- evaluated once per statement rather than once per row. The user-facing queries filter on
-- user_id themselves, so their indexes are still used (the OR only becomes a filter).
create or replace function app_private.is_admin() returns boolean
language sql stable as $$
  select coalesce(auth.jwt() -> 'app_metadata' ->> 'role' = 'admin', false)
$$;
comment on function app_private.is_admin() is
  'True when the request''s verified JWT has app_metadata.role = ''admin'' (set only with the service-role key).';
grant execute on function app_private.is_admin() to authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- users: one row per signed-up person, created by the server from the verified JWT.
-- Owner: system. Readers: the user themself.
create table public.users (
  id                 uuid primary key,
  email              text not null,
  name               text,
  stripe_customer_id text unique,
  created_at         timestamptz not null default now(),
  updated_at         timestamptz not null default now()
);
comment on table public.users is 'Owner: system (from the verified JWT). Readers: the user themself.';
create trigger users_touch before update on public.users
  for each row execute function app_private.touch_updated_at();
alter table public.users enable row level security;
revoke all on public.users from anon, authenticated;
grant select on public.users to authenticated;
create policy users_select_own on public.users for select to authenticated
  using (id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------------
-- plans: the catalogue (mirrors lib/billing/plans.ts; a unit test keeps them equal).
-- Owner: migrations. Readers: everyone.
create table public.plans (
  id                 text primary key check (id in ('starter', 'pro', 'enterprise')),
  name               text not null,
  allowance_micros   bigint not null check (allowance_micros > 0),
  token_rate_micros  bigint not null check (token_rate_micros >= 0),
  minute_rate_micros bigint not null check (minute_rate_micros >= 0),
  sort_order         int not null
);
comment on table public.plans is 'Owner: migrations. Readers: everyone (anon and authenticated).';
alter table public.plans enable row level security;
revoke all on public.plans from anon, authenticated;
grant select on public.plans to anon, authenticated;
create policy plans_select_all on public.plans for select to anon, authenticated using (true);

insert into public.plans (id, name, allowance_micros, token_rate_micros, minute_rate_micros, sort_order) values
  ('starter',    'Starter',    10000000,  1000, 100000, 1),
  ('pro',        'Pro',        50000000,   500,  50000, 2),
  ('enterprise', 'Enterprise', 500000000,  200,  20000, 3);

-- ---------------------------------------------------------------------------------------------
-- subscriptions: local copy of the user's Stripe subscriptions, kept in step by webhooks, with
-- the Stripe subscription item (needed to change its price) and the customer.
-- Owner: system. Readers: the user themself; admins (all rows).
create table public.subscriptions (
  id                   text primary key,            -- Stripe's sub_...
  user_id              uuid not null references public.users (id) on delete cascade,
  plan_id              text not null references public.plans (id),
  status               text not null check (status in ('incomplete', 'incomplete_expired', 'trialing',
                         'active', 'past_due', 'canceled', 'unpaid', 'paused')),
  current_period_start timestamptz not null,
  current_period_end   timestamptz not null check (current_period_end > current_period_start),
  cancel_at_period_end boolean not null default false,
  canceled_at          timestamptz,
  ended_at             timestamptz,
  -- Creation time of the newest Stripe event applied; older events never move state backwards.
  stripe_updated_at    timestamptz,
  created_at           timestamptz not null default now(),
  updated_at           timestamptz not null default now(),
  stripe_item_id       text,
  stripe_customer_id   text
);
comment on table public.subscriptions is
  'Owner: system (Stripe webhooks, reconcile). Readers: the user themself; admins (all rows).';
create index subscriptions_user_idx on public.subscriptions (user_id, status);
-- The newest in-force subscription of a user in one index probe, in start order (no sort):
-- app_private.period_in_force.
create index subscriptions_in_force_idx on public.subscriptions (user_id, current_period_start desc)
  where status in ('active', 'trialing', 'past_due');
create trigger subscriptions_touch before update on public.subscriptions
  for each row execute function app_private.touch_updated_at();
alter table public.subscriptions enable row level security;
revoke all on public.subscriptions from anon, authenticated;
grant select on public.subscriptions to authenticated;
create policy subscriptions_select_own on public.subscriptions for select to authenticated
  using (user_id = (select auth.uid()));
create policy subscriptions_select_admin on public.subscriptions for select to authenticated
  using ((select app_private.is_admin()));

-- ---------------------------------------------------------------------------------------------
-- webhook_events: the inbox. Every Stripe event id is recorded before any work is done, with
-- the user it concerns (for operators) once known.
-- Owner: system. Readers: admins only. Users have the grant but no policy: they read zero rows.
create table public.webhook_events (
  id             text primary key,                 -- Stripe's evt_...
  type           text not null,
  stripe_created timestamptz not null,
  payload        jsonb not null,
  status         text not null default 'received' check (status in ('received', 'processed', 'failed', 'ignored')),
  attempts       int not null default 0,
  last_error     text,
  received_at    timestamptz not null default now(),
  processed_at   timestamptz,
  user_id        uuid
);
comment on table public.webhook_events is 'Owner: system (webhook route). Readers: admins only.';
create index webhook_events_status_idx on public.webhook_events (status, received_at) where status <> 'processed';
alter table public.webhook_events enable row level security;
revoke all on public.webhook_events from anon, authenticated;
grant select on public.webhook_events to authenticated;
create policy webhook_events_select_admin on public.webhook_events for select to authenticated
  using ((select app_private.is_admin()));

-- ---------------------------------------------------------------------------------------------
-- budgets: a user's own monthly spending budget (a preference, not money): the user may write it.
-- Owner: the user. Readers: the user themself.
create table public.budgets (
  user_id             uuid primary key references public.users (id) on delete cascade,
  monthly_budget_cents integer not null check (monthly_budget_cents > 0 and monthly_budget_cents <= 100000000),
  created_at          timestamptz not null default now(),
  updated_at          timestamptz not null default now()
);
comment on table public.budgets is 'Owner: the user themself. Readers: the user themself.';
create trigger budgets_touch before update on public.budgets
  for each row execute function app_private.touch_updated_at();
alter table public.budgets enable row level security;
revoke all on public.budgets from anon, authenticated;
grant select, insert, update, delete on public.budgets to authenticated;
create policy budgets_select_own on public.budgets for select to authenticated
  using (user_id = (select auth.uid()));
create policy budgets_insert_own on public.budgets for insert to authenticated
  with check (user_id = (select auth.uid()));
create policy budgets_update_own on public.budgets for update to authenticated
  using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));
create policy budgets_delete_own on public.budgets for delete to authenticated
  using (user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------------
-- notifications: in-app messages (payment failed, budget reached). `dedupe_key` makes "once per
-- period" alerts idempotent. Users may only mark their own as read.
-- Owner: system. Readers: the user themself.
create table public.notifications (
  id         uuid primary key default gen_random_uuid(),
  user_id    uuid not null references public.users (id) on delete cascade,
  kind       text not null,
  title      text not null,
  body       text not null,
  data       jsonb not null default '{}'::jsonb,
  dedupe_key text not null,
  read_at    timestamptz,
  created_at timestamptz not null default now(),
  unique (user_id, dedupe_key)
);
comment on table public.notifications is 'Owner: system. Readers: the user themself, who may set read_at.';
create index notifications_user_idx on public.notifications (user_id, created_at desc);
alter table public.notifications enable row level security;
revoke all on public.notifications from anon, authenticated;
grant select on public.notifications to authenticated;
grant update (read_at) on public.notifications to authenticated;
create policy notifications_select_own on public.notifications for select to authenticated
  using (user_id = (select auth.uid()));
create policy notifications_update_own on public.notifications for update to authenticated
  using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------------
-- audit_log: append-only record of every money change (credit, period start, plan change, refund).
-- Owner: system. Readers: admins only (users have the grant but no policy).
create table public.audit_log (
  id            bigint generated always as identity primary key,
  user_id       uuid references public.users (id) on delete set null,
  actor         text not null,
  action        text not null,
  entity_type   text not null,
  entity_id     text not null,
  amount_micros bigint,
  details       jsonb not null default '{}'::jsonb,
  created_at    timestamptz not null default now()
);
comment on table public.audit_log is 'Owner: system (append-only). Readers: admins only.';
create index audit_log_user_idx on public.audit_log (user_id, created_at);
create trigger audit_log_append_only before update or delete on public.audit_log
  for each row execute function app_private.forbid_change();
alter table public.audit_log enable row level security;
revoke all on public.audit_log from anon, authenticated;
grant select on public.audit_log to authenticated;
create policy audit_log_select_admin on public.audit_log for select to authenticated
  using ((select app_private.is_admin()));

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
