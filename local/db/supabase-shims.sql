-- Local-only stand-ins for what a Supabase database already provides: the API roles and the
-- auth.uid() / auth.jwt() / auth.role() helpers that read PostgREST's request.jwt.claims.
-- Applied by the migrator only to databases that lack auth.uid() (PGlite, a plain PostgreSQL);
-- never part of supabase/migrations, so production keeps Supabase's own definitions.

do $$
declare
  role_name text;
begin
  foreach role_name in array array['anon', 'authenticated', 'service_role'] loop
    if not exists (select 1 from pg_roles where rolname = role_name) then
      begin
        execute format('create role %I nologin noinherit', role_name);
      exception when duplicate_object or unique_violation then
        null; -- another database of the same cluster created it at the same moment
      end;
    end if;
  end loop;
end $$;

alter role service_role bypassrls;
-- The connecting role switches to these with SET ROLE, as Supabase's authenticator does.
grant anon, authenticated, service_role to current_user;

create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;
grant usage on schema public to anon, authenticated, service_role;

create or replace function auth.jwt() returns jsonb language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;

create or replace function auth.uid() returns uuid language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

create or replace function auth.role() returns text language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

-- auth.sessions: Supabase Auth keeps each session here (GoTrue's table, in the same database),
-- so the app can refuse a token whose session has ended (sign-out, refresh-token reuse, a
-- deleted user) with one primary-key lookup. The local auth server writes its sessions here
-- (local/auth/session-mirror.ts); only the columns the app reads are kept.
create table if not exists auth.sessions (
  id          uuid primary key,
  user_id     uuid not null,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now(),
  not_after   timestamptz
);
create index if not exists sessions_user_id_idx on auth.sessions (user_id);
