-- Batch ingestion of finished tasks (POST /api/usage/events): one call records up to 500 events.
-- Each event goes through app_private.commit_usage, the one definition of a commit, inside its
-- own subtransaction (the BEGIN ... EXCEPTION block): an event the usage rules refuse is rolled
-- back alone and answered `rejected`, the others stand. Any other error aborts the whole call,
-- and the caller may retry it: every event carries its idempotency key.
--
-- Lock order, so that batches never deadlock with each other or with single commits (which
-- lock a reservation, then the user's period row): first every reservation the batch names, in
-- id order; then user by user, in user id order, that user's period rows.
-- p_events: a JSON array of { i, userId, reservationId?, agent, tokens, executionMs,
-- idempotencyKey }, already validated by the app; `i` is the event's index in the request.
create or replace function app_private.commit_usage_batch(p_events jsonb, p_max_cost_micros bigint default null)
returns table (ordinal integer, outcome text, event_id uuid, cost_micros bigint, error_code text, error_message text)
language plpgsql as $$
declare
  e record;
  c record;
  locked_user uuid;
begin
  perform 1 from public.usage_reservations res
    where res.id in (select (x->>'reservationId')::uuid from jsonb_array_elements(p_events) x
                      where x->>'reservationId' is not null)
    order by res.id
    for update;

  for e in
    select (x->>'i')::integer as i, (x->>'userId')::uuid as user_id, (x->>'reservationId')::uuid as reservation_id,
           x->>'agent' as agent, (x->>'tokens')::bigint as tokens, (x->>'executionMs')::bigint as execution_ms,
           x->>'idempotencyKey' as idempotency_key
      from jsonb_array_elements(p_events) x
      order by 2, 1
  loop
    if locked_user is distinct from e.user_id then
      locked_user := e.user_id;
      perform 1 from public.user_usage u where u.user_id = e.user_id order by u.period_start for update;
    end if;
    ordinal := e.i;
    begin
      select r.event_id, r.duplicate, r.cost_micros into c
        from app_private.commit_usage(e.user_id, e.reservation_id, e.agent, e.tokens, e.execution_ms, e.idempotency_key,
                                      p_max_cost_micros) r;
      outcome := case when c.duplicate then 'duplicate' else 'recorded' end;
      event_id := c.event_id;
      cost_micros := c.cost_micros;
      error_code := null;
      error_message := null;
    exception when others then
      -- The usage rules' refusals (BLnnn), an unknown user (foreign key), an amount out of range.
      if sqlstate like 'BL%' or sqlstate in ('23503', '23514', '22003') then
        outcome := 'rejected';
        event_id := null;
        cost_micros := null;
        error_code := sqlstate;
        error_message := sqlerrm;
      else
        raise;
      end if;
    end;
    return next;
  end loop;
end $$;
comment on function app_private.commit_usage_batch(jsonb, bigint) is
  'Records a batch of usage events, each atomic on its own through commit_usage. Called by the system only.';
