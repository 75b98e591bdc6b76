-- payment_intent.succeeded for a top-up (bench:webhooks, p99 at 1,000 events/s): settle_top_up
-- called refund_credit for every top-up, which locked the user's usage period (period_in_force)
-- a second time and re-read the grant only to find no refund to take. Now it does so only when a
-- refund of the intent was recorded before its success (reordered events, refunds-disputes.test.ts).
-- Otherwise the same function (20261201000200_payments.sql): same signature, same answers.

create or replace function app_private.settle_top_up(
  p_intent text, p_user uuid, p_customer text, p_amount_cents int, p_received_cents int, p_at timestamptz, p_actor text,
  p_currency text default 'usd'
) returns uuid language plpgsql as $$
declare
  usd boolean := lower(coalesce(p_currency, '')) = 'usd';
  attempt public.payment_attempts;
  d public.disputes;
  grant_id uuid;
begin
  perform 1 from public.users u
    where u.id = p_user and (u.stripe_customer_id is null or u.stripe_customer_id = p_customer);
  if not found then
    return null;
  end if;
  insert into public.payment_attempts as a (user_id, amount_cents, payment_intent_id, kind, status, succeeded_at, currency, flag)
    values (p_user, p_amount_cents, p_intent, 'usage_topup', 'succeeded', p_at, coalesce(lower(p_currency), 'unknown'),
            case when usd then null else 'currency_not_usd' end)
    on conflict (payment_intent_id) do update
      set status = 'succeeded', succeeded_at = excluded.succeeded_at, failure_code = null, failure_message = null,
          currency = excluded.currency, flag = excluded.flag
      where a.status <> 'succeeded'
    returning * into attempt;
  if not usd then
    if attempt.id is not null then
      insert into public.audit_log (user_id, actor, action, entity_type, entity_id, amount_micros, details)
        values (p_user, p_actor, 'payment.flagged', 'payment_intent', p_intent, null,
                jsonb_build_object('reason', 'currency_not_usd', 'currency', coalesce(lower(p_currency), 'unknown'), 'amount', p_received_cents));
    end if;
    return p_user;
  end if;
  select g.credit_id into grant_id
    from app_private.grant_credit(p_user, p_received_cents::bigint * 10000, 'payment_intent', p_intent, p_actor, p_at) g;
  -- Refunds recorded before the payment's own event (reordering): take them out now. Almost
  -- every top-up has none, and refund_credit would lock the usage period (period_in_force) and
  -- the grant again only to find nothing to take; one index probe decides.
  if exists (select 1 from public.charge_refunds r where r.payment_intent_id = p_intent) then
    perform app_private.refund_credit('payment_intent', p_intent,
      (select sum(r.amount_cents) from public.charge_refunds r where r.payment_intent_id = p_intent)::bigint * 10000,
      'refunds before success', p_actor);
  end if;
  -- Disputes opened (or closed) before it: freeze, or settle, against the new grant.
  for d in select * from public.disputes x where x.payment_intent_id = p_intent and x.grant_id is null for update loop
    perform app_private.apply_dispute(d.id, grant_id);
  end loop;
  return p_user;
end $$;
