-- task_runner_keys: named server keys of the AI task runner. Only a SHA-256 digest of each key is
-- kept (keys are 32 random bytes, so a fast digest is enough: there is nothing to brute-force),
-- the key itself is shown once when it is created. Several keys may be live at once so a key can
-- be rotated without downtime; a revoked key stays listed with the time it was revoked.
-- last_used_at is written in batches by the app (at most every few seconds per process), not on
-- every request.
-- Owner: system (admin page and `npm run runner-keys`, after an operator check). Readers: admins.
create table public.task_runner_keys (
  id           uuid primary key default gen_random_uuid(),
  name         text not null check (length(name) between 1 and 100),
  key_prefix   text not null check (length(key_prefix) between 4 and 32),
  key_sha256   text not null unique check (key_sha256 ~ '^[0-9a-f]{64}$'),
  created_by   text,
  created_at   timestamptz not null default now(),
  last_used_at timestamptz,
  revoked_at   timestamptz
);
comment on table public.task_runner_keys is
  'Owner: system (operators through the admin page and the runner-keys CLI). Readers: admins.';
create index task_runner_keys_live_idx on public.task_runner_keys (key_sha256) where revoked_at is null;
alter table public.task_runner_keys enable row level security;
revoke all on public.task_runner_keys from anon, authenticated;
grant select (id, name, key_prefix, created_by, created_at, last_used_at, revoked_at) on public.task_runner_keys to authenticated;
create policy task_runner_keys_select_admin on public.task_runner_keys for select to authenticated
  using ((select app_private.is_admin()));
