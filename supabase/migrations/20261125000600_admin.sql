-- Operators (admins): read access to the tables of the admin billing view, enforced by RLS.
--
-- An admin is a signed-in user whose verified access token carries app_metadata.role = 'admin'.
-- app_metadata can only be written with the service-role key (Supabase Auth's admin API), never
-- by the user themself, so the claim is as trustworthy as the token's `sub`. The server sets the
-- verified claims as request.jwt.claims (lib/db/database.ts, as PostgREST does); this file reads
-- them with auth.jwt(). The app checks the same claim first (lib/auth/admin.ts): the policies
-- here are the second lock, so a missed check in the app still reads only the user's own rows.
--
-- Admins may only READ: every policy below is `for select`, and no insert/update/delete grant
-- is added, so money stays written by the system alone. Replaying a webhook is a system action
-- the server performs after its own admin check (lib/analytics/admin-access.ts).
--
-- The admin policies are permissive, so they are OR-ed with the existing "own rows" policies:
-- a user sees `user_id = auth.uid() OR is_admin()`. `(select app_private.is_admin())` is an
-- InitPlan, evaluated once per statement rather than once per row. The user-facing queries
-- filter on user_id themselves, so their indexes are still used (the OR only becomes a filter).

create or replace function app_private.is_admin() returns boolean
language sql stable as $$
  select coalesce(auth.jwt() -> 'app_metadata' ->> 'role' = 'admin', false)
$$;
comment on function app_private.is_admin() is
  'True when the request''s verified JWT has app_metadata.role = ''admin'' (set only with the service-role key).';
grant execute on function app_private.is_admin() to authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- Tables users can already read (their own rows): add the admins' read of all rows.

create policy payment_attempts_select_admin on public.payment_attempts for select to authenticated
  using ((select app_private.is_admin()));
comment on table public.payment_attempts is
  'Owner: system (payments API, webhooks). Readers: the user themself; admins (all rows).';

create policy invoices_select_admin on public.invoices for select to authenticated
  using ((select app_private.is_admin()));
comment on table public.invoices is
  'Owner: system (Stripe webhooks, reconcile). Readers: the user themself; admins (all rows).';

create policy subscriptions_select_admin on public.subscriptions for select to authenticated
  using ((select app_private.is_admin()));
comment on table public.subscriptions is
  'Owner: system (Stripe webhooks, reconcile). Readers: the user themself; admins (all rows).';

create policy usage_events_select_admin on public.usage_events for select to authenticated
  using ((select app_private.is_admin()));
comment on table public.usage_events is
  'Owner: system (append-only usage ledger). Readers: the user themself; admins (all rows).';

-- ---------------------------------------------------------------------------------------------
-- Operator-only tables: users had no grant at all. The grant now lets the policy decide, and the
-- only policy admits admins; anyone else reads zero rows.

grant select on public.webhook_events to authenticated;
create policy webhook_events_select_admin on public.webhook_events for select to authenticated
  using ((select app_private.is_admin()));
comment on table public.webhook_events is 'Owner: system (webhook route). Readers: admins only.';

grant select on public.audit_log to authenticated;
create policy audit_log_select_admin on public.audit_log for select to authenticated
  using ((select app_private.is_admin()));
comment on table public.audit_log is 'Owner: system (append-only). Readers: admins only.';
