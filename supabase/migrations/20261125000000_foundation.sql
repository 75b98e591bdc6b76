-- Foundation schema: users, plans, subscriptions, usage (periods, reservations, ledger), credits,
-- payments, webhook inbox, budgets, notifications, audit log.
--
-- Conventions
--   * Money is integers: usage in micro-dollars (`*_micros`, 1 USD = 1,000,000), charges in cents.
--   * Every table has row level security. Users (role `authenticated`) may read their own rows;
--     nobody but the system (the database owner role the server connects as, which RLS does not
--     restrict) writes money. Grants are explicit so a missing policy never becomes a hole.
--   * Ledgers (usage_events, credit_grants, audit_log) are append-only, enforced by a trigger.

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
-- subscriptions: local copy of the user's Stripe subscriptions, kept in step by webhooks.
-- Owner: system. Readers: the user themself.
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
  updated_at           timestamptz not null default now()
);
comment on table public.subscriptions is 'Owner: system (Stripe webhooks, reconcile). Readers: the user themself.';
create index subscriptions_user_idx on public.subscriptions (user_id, status);
create trigger subscriptions_touch before update on public.subscriptions
  for each row execute function app_private.touch_updated_at();
alter table public.subscriptions enable row level security;
revoke all on public.subscriptions from anon, authenticated;
grant select on public.subscriptions to authenticated;
create policy subscriptions_select_own on public.subscriptions for select to authenticated
  using (user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------------
-- user_usage: one row per user and usage period (the specification had one row per user that a
-- payment "reset"; keeping every period keeps history and makes resets unnecessary).
-- Counters are maintained atomically and can be recomputed from usage_events / credit_grants.
-- Owner: system. Readers: the user themself.
create table public.user_usage (
  id                  uuid primary key default gen_random_uuid(),
  user_id             uuid not null references public.users (id) on delete cascade,
  period_start        timestamptz not null,
  period_end          timestamptz not null check (period_end > period_start),
  plan_id             text not null references public.plans (id),
  allowance_micros    bigint not null check (allowance_micros >= 0),
  used_micros         bigint not null default 0 check (used_micros >= 0),
  credits_micros      bigint not null default 0 check (credits_micros >= 0),
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
-- Owner: system. Readers: the user themself.
-- No foreign keys on this table and on usage_events: they sit on the hottest path, and each
-- key check is a row lock on the referenced row (the user's) taken by every task. Integrity
-- comes from the usage functions, which only write for a user whose user_usage row (which does
-- reference users) exists.
create table public.usage_reservations (
  id              uuid primary key default gen_random_uuid(),
  user_id         uuid not null,
  period_start    timestamptz not null,
  amount_micros   bigint not null check (amount_micros > 0),
  status          text not null default 'open' check (status in ('open', 'committed', 'released', 'expired')),
  idempotency_key text not null check (length(idempotency_key) between 1 and 255),
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
-- usage_events: the append-only usage ledger. One row per committed task, with the rates of
-- the plan in force when it ran, so a later plan change never reprices history.
-- Owner: system. Readers: the user themself.
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
comment on table public.usage_events is 'Owner: system (append-only usage ledger). Readers: the user themself.';
create index usage_events_user_time_idx on public.usage_events (user_id, created_at);
create trigger usage_events_append_only before update or delete on public.usage_events
  for each row execute function app_private.forbid_change();
alter table public.usage_events enable row level security;
revoke all on public.usage_events from anon, authenticated;
grant select on public.usage_events to authenticated;
create policy usage_events_select_own on public.usage_events for select to authenticated
  using (user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------------
-- credit_grants: append-only ledger of allowance bought (usage top-ups). One grant per source,
-- so a payment credited twice is impossible.
-- Owner: system. Readers: the user themself.
create table public.credit_grants (
  id            uuid primary key default gen_random_uuid(),
  user_id       uuid not null references public.users (id) on delete cascade,
  period_start  timestamptz not null,
  amount_micros bigint not null check (amount_micros > 0),
  source        text not null check (source in ('payment_intent', 'manual')),
  source_id     text not null,
  created_at    timestamptz not null default now(),
  unique (source, source_id)
);
comment on table public.credit_grants is 'Owner: system (append-only credits ledger). Readers: the user themself.';
create index credit_grants_user_idx on public.credit_grants (user_id, period_start);
create trigger credit_grants_append_only before update or delete on public.credit_grants
  for each row execute function app_private.forbid_change();
alter table public.credit_grants enable row level security;
revoke all on public.credit_grants from anon, authenticated;
grant select on public.credit_grants to authenticated;
create policy credit_grants_select_own on public.credit_grants for select to authenticated
  using (user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------------
-- payment_attempts: the specification's table, one row per PaymentIntent we created.
-- Owner: system. Readers: the user themself.
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
  updated_at        timestamptz not null default now()
);
comment on table public.payment_attempts is 'Owner: system (payments API, webhooks). Readers: the user themself.';
create index payment_attempts_user_idx on public.payment_attempts (user_id, created_at desc);
create trigger payment_attempts_touch before update on public.payment_attempts
  for each row execute function app_private.touch_updated_at();
alter table public.payment_attempts enable row level security;
revoke all on public.payment_attempts from anon, authenticated;
grant select on public.payment_attempts to authenticated;
create policy payment_attempts_select_own on public.payment_attempts for select to authenticated
  using (user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------------
-- webhook_events: the inbox. Every Stripe event id is recorded before any work is done.
-- Owner: system. Readers: operators only (no user policy).
create table public.webhook_events (
  id             text primary key,                 -- Stripe's evt_...
  type           text not null,
  stripe_created timestamptz not null,
  payload        jsonb not null,
  status         text not null default 'received' check (status in ('received', 'processed', 'failed', 'ignored')),
  attempts       int not null default 0,
  last_error     text,
  received_at    timestamptz not null default now(),
  processed_at   timestamptz
);
comment on table public.webhook_events is 'Owner: system (webhook route). Readers: operators only.';
create index webhook_events_status_idx on public.webhook_events (status, received_at) where status <> 'processed';
alter table public.webhook_events enable row level security;
revoke all on public.webhook_events from anon, authenticated;

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
-- Owner: system. Readers: operators only (no user policy).
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
comment on table public.audit_log is 'Owner: system (append-only). Readers: operators only.';
create index audit_log_user_idx on public.audit_log (user_id, created_at);
create trigger audit_log_append_only before update or delete on public.audit_log
  for each row execute function app_private.forbid_change();
alter table public.audit_log enable row level security;
revoke all on public.audit_log from anon, authenticated;
