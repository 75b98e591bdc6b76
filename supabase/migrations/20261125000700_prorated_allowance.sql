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

-- As before (the user's row for the period in force, created on first use, locked), except that
-- a plan that changed since the row was written prorates its allowance instead of replacing it.
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

-- As before, with the period's own (possibly prorated) allowance once its row exists.
create or replace function app_private.usage_snapshot(p_user uuid)
returns table (
  plan_id text, period_start timestamptz, period_end timestamptz, allowance_micros bigint,
  used_micros bigint, credits_micros bigint, reserved_micros bigint, remaining_micros bigint
) language plpgsql stable as $$
begin
  return query
  select a.plan_id, a.period_start, a.period_end, a.allowance, a.used, a.credits, a.reserved,
         a.allowance + a.credits - a.used - a.reserved
  from (
    select p.plan_id, p.period_start, p.period_end,
           case when u.id is null then pl.allowance_micros
                when u.plan_id = p.plan_id then u.allowance_micros
                else app_private.prorated_allowance(u.allowance_micros, u.plan_id, p.plan_id, u.period_start, p.period_end, now())
           end as allowance,
           coalesce(u.used_micros, 0) as used, coalesce(u.credits_micros, 0) as credits,
           app_private.open_reserved_micros(p_user) as reserved
    from app_private.period_in_force(p_user) p
    join public.plans pl on pl.id = p.plan_id
    left join public.user_usage u on u.user_id = p_user and u.period_start = p.period_start
  ) a;
end $$;
grant execute on function app_private.prorated_allowance(bigint, text, text, timestamptz, timestamptz, timestamptz) to authenticated, service_role;
