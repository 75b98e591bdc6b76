-- Analytics: indexes for the spending figures of one user (GET /api/payments/analytics) and the
-- operators' monthly figures over all users (lib/analytics). No new tables and no triggers:
-- usage_events inserts are the task runner's hot path, so the ledger gets only a BRIN index,
-- which costs next to nothing per insert (see docs/benchmarks.md, bench:usage before/after).
--
-- * One user's range reads the existing btree (user_id, created_at): a month is ~100 rows.
-- * A month over all users reads usage_events by created_at. The ledger is append-only and
--   written in time order, so created_at follows the physical order of the rows and a BRIN
--   index (a min/max per 128 pages) narrows a month to its own pages. autosummarize keeps the
--   ranges filled since the last vacuum summarised (unsummarised ranges would be scanned).
-- * Payments, invoices and subscriptions are low-volume tables (one row per payment or
--   subscription): plain btrees on the times the figures group by.

create index usage_events_created_brin on public.usage_events using brin (created_at) with (autosummarize = on);

-- Revenue by month: succeeded attempts by the time they succeeded, paid invoices by paid time.
create index payment_attempts_succeeded_idx on public.payment_attempts ((coalesce(succeeded_at, created_at)))
  where status = 'succeeded';
create index invoices_paid_idx on public.invoices ((coalesce(paid_at, stripe_created))) where status = 'paid';
-- Payment success rate: attempts created in the month.
create index payment_attempts_created_idx on public.payment_attempts (created_at);
-- Subscription conversion: subscriptions created in the month, and their paid invoices.
create index subscriptions_created_idx on public.subscriptions (created_at);
create index invoices_subscription_idx on public.invoices (subscription_id);

-- The user's own figures re-price their events at every plan's rates with the one definition
-- of a task's cost; the function is pure, and users run it inside their RLS transaction.
grant execute on function app_private.task_cost_micros(bigint, bigint, bigint, bigint) to authenticated, service_role;
