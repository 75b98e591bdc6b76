-- Baseline, analytics: indexes for the spending figures of one user (GET /api/payments/analytics)
-- and the operators' monthly figures over all users (lib/analytics). No tables and no triggers:
-- usage_events inserts are the task runner's hot path, so the ledger gets only a BRIN index
-- (20261201000100_usage.sql), which costs next to nothing per insert (docs/benchmarks.md).
--
-- * One user's range reads the btree usage_events (user_id, created_at): a month is ~100 rows.
-- * Payments, invoices and subscriptions are low-volume tables (one row per payment or
--   subscription): plain btrees on the times the figures group by.

-- Revenue by month: succeeded attempts by the time they succeeded, paid invoices by paid time.
create index payment_attempts_succeeded_idx on public.payment_attempts ((coalesce(succeeded_at, created_at)))
  where status = 'succeeded';
create index invoices_paid_idx on public.invoices ((coalesce(paid_at, stripe_created))) where status = 'paid';
-- Payment success rate: attempts created in the month.
create index payment_attempts_created_idx on public.payment_attempts (created_at);
-- Subscription conversion: subscriptions created in the month, and their paid invoices.
create index subscriptions_created_idx on public.subscriptions (created_at);
create index invoices_subscription_idx on public.invoices (subscription_id);
