-- The busiest webhook, payment_intent.succeeded for a usage top-up, in one statement: claim the
-- event in the inbox, settle the attempt, credit once, mark the event processed. One round
-- trip instead of eight (bench:webhooks), and atomic like any single statement: a failure
-- anywhere leaves nothing behind, and the caller records the failure.

-- Marks a top-up attempt succeeded and credits exactly what was received, once per intent.
-- Returns the user credited, or null when the intent is not a top-up of a user we know (the
-- user must exist and, once linked, own the intent's customer).
create or replace function app_private.settle_top_up(
  p_intent text, p_user uuid, p_customer text, p_amount_cents int, p_received_cents int, p_at timestamptz, p_actor text
) returns uuid language plpgsql as $$
begin
  perform 1 from public.users u
    where u.id = p_user and (u.stripe_customer_id is null or u.stripe_customer_id = p_customer);
  if not found then
    return null;
  end if;
  insert into public.payment_attempts as a (user_id, amount_cents, payment_intent_id, kind, status, succeeded_at)
    values (p_user, p_amount_cents, p_intent, 'usage_topup', 'succeeded', p_at)
    on conflict (payment_intent_id) do update
      set status = 'succeeded', succeeded_at = excluded.succeeded_at, failure_code = null, failure_message = null
      where a.status <> 'succeeded';
  perform app_private.grant_credit(p_user, p_received_cents::bigint * 10000, 'payment_intent', p_intent, p_actor);
  return p_user;
end $$;

-- The whole event: 'processed', 'ignored' (not one of our top-ups) or 'duplicate' (handled before).
create or replace function app_private.process_top_up_succeeded(
  p_event_id text, p_event_type text, p_event_created timestamptz, p_payload jsonb,
  p_intent text, p_user uuid, p_customer text, p_amount_cents int, p_received_cents int
) returns text language plpgsql as $$
declare
  credited uuid;
begin
  -- Claims the event: a concurrent delivery of the same id waits on this row, then sees it done.
  insert into public.webhook_events as w (id, type, stripe_created, payload, attempts)
    values (p_event_id, p_event_type, p_event_created, p_payload, 1)
    on conflict (id) do update set attempts = w.attempts + 1 where w.status not in ('processed', 'ignored');
  if not found then
    return 'duplicate';
  end if;
  credited := app_private.settle_top_up(p_intent, p_user, p_customer, p_amount_cents, p_received_cents, p_event_created, 'stripe-webhook');
  update public.webhook_events
    set status = case when credited is null then 'ignored' else 'processed' end,
        user_id = credited, processed_at = now(), last_error = null
    where id = p_event_id;
  return case when credited is null then 'ignored' else 'processed' end;
end $$;
