-- Why: after a simulated clock (a Stripe test clock, or the local Stripe's clock for every
-- customer) renews a subscription, its paid period starts after the database's now, and
-- period_in_force (20261201000100_usage.sql) skipped it: the dashboard showed Starter for a paid
-- Pro. A subscription that already existed at p_at is now in force even when its period starts
-- later; before it existed (a receipt's past payment) the calendar month on Starter still applies.
-- This is period_in_force's current definition.
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
              and (s.current_period_start <= p_at or s.created_at <= p_at)
            order by s.current_period_start desc
            limit 1) as sub
    offset 0
  ) as x
$$;
