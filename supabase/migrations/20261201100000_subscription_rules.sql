-- Subscriptions: downgrades at the end of the period, one subscription per user at every door,
-- and invoices in a currency other than USD kept apart.

-- ---------------------------------------------------------------------------------------------
-- A plan change scheduled at Stripe (a subscription schedule whose next phase is another plan):
-- shown to the user ("Changes to Starter on <date>") until the renewal applies it or the user
-- undoes it. Stripe stays the source of truth: these columns are written with the rest of the
-- row from one read of the subscription with its schedule expanded (syncSubscription), so the
-- row's `stripe_updated_at` guards them against older reads too.
alter table public.subscriptions
  add column schedule_id text,
  add column scheduled_plan_id text references public.plans (id),
  add column scheduled_change_at timestamptz,
  add constraint subscriptions_scheduled_change_complete
    check ((scheduled_plan_id is null) = (scheduled_change_at is null));

-- ---------------------------------------------------------------------------------------------
-- subscription_requests: at most one subscription being created per user at a time. A request
-- takes the user's row before it calls Stripe and gives it back afterwards; a second request
-- meanwhile (another plan, another tab) is refused instead of racing to a second subscription.
-- A row left by a crashed process is taken over once `expires_at` has passed (longer than a
-- Stripe call with its retries). Owner: system. Readers: nobody but the system.
create table public.subscription_requests (
  user_id    uuid primary key references public.users (id) on delete cascade,
  token      uuid not null,
  plan_id    text not null references public.plans (id),
  expires_at timestamptz not null,
  created_at timestamptz not null default now()
);
comment on table public.subscription_requests is 'Owner: system (subscription creation). Readers: nobody but the system.';
alter table public.subscription_requests enable row level security;
revoke all on public.subscription_requests from anon, authenticated;

-- ---------------------------------------------------------------------------------------------
-- invoices: why an invoice was not accounted for (e.g. 'currency:eur': only USD starts a paid
-- period). Operators see flagged invoices; the user's history shows the invoice as it is.
alter table public.invoices add column flag text;
create index invoices_flagged_idx on public.invoices (stripe_created) where flag is not null;
