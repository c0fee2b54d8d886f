-- Tenancy: the application role, the tenant predicate, forced row-level security on
-- every tenant table, and the few SECURITY DEFINER look-ups that must run before the
-- tenant is known (API key and session authentication, login).

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'staryer_app') THEN
    CREATE ROLE staryer_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
  END IF;
  -- The owner connects with role=staryer_app when no APP_DATABASE_URL is given, which
  -- needs membership (superusers have it implicitly). A member already (a DBA granted it,
  -- or another installation on the cluster did) is left as it is: granting again needs
  -- ADMIN OPTION on the role, which such an owner does not have.
  IF NOT pg_has_role(current_user, 'staryer_app', 'MEMBER') THEN
    BEGIN
      EXECUTE format('GRANT staryer_app TO %I', current_user);
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE EXCEPTION 'the role staryer_app exists, and % is neither a member of it nor allowed to grant it: as a superuser or the role''s admin, run GRANT staryer_app TO %, then migrate again', current_user, quote_ident(current_user);
    END;
  END IF;
END
$$;
--> statement-breakpoint
GRANT USAGE ON SCHEMA public TO staryer_app;
--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO staryer_app;
--> statement-breakpoint
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO staryer_app;
--> statement-breakpoint
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO staryer_app;
--> statement-breakpoint
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO staryer_app;
--> statement-breakpoint
-- The tenant of the current transaction, set by db/tenant.ts withCreator with
-- set_config('app.creator_id', …, true). Unset → NULL → no row matches.
CREATE OR REPLACE FUNCTION app_current_creator() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT nullif(current_setting('app.creator_id', true), '')::uuid $$;
--> statement-breakpoint
-- Applies forced RLS with the tenant policy to a table; later migrations call it for
-- every new tenant table. The owner (migrations, CLI, SECURITY DEFINER look-ups)
-- keeps a policy of its own; the application role never has one.
CREATE OR REPLACE FUNCTION app_enable_tenant_rls(p_table regclass) RETURNS void
  LANGUAGE plpgsql
  AS $$
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', p_table);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', p_table);
  EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %s', p_table);
  EXECUTE format(
    'CREATE POLICY tenant_isolation ON %s TO staryer_app USING (creator_id = app_current_creator()) WITH CHECK (creator_id = app_current_creator())',
    p_table);
  EXECUTE format('DROP POLICY IF EXISTS owner_all ON %s', p_table);
  EXECUTE format('CREATE POLICY owner_all ON %s TO %I USING (true) WITH CHECK (true)', p_table, current_user);
END
$$;
--> statement-breakpoint
SELECT app_enable_tenant_rls('creators');
--> statement-breakpoint
SELECT app_enable_tenant_rls('creator_sessions');
--> statement-breakpoint
SELECT app_enable_tenant_rls('api_keys');
--> statement-breakpoint
CREATE OR REPLACE FUNCTION app_auth_api_key(p_secret_hash text)
  RETURNS TABLE (creator_id uuid, key_id uuid, prefix text, scopes text[], revoked_at timestamptz)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
  AS $$
    SELECT k.creator_id, k.key_id, k.prefix, k.scopes, k.revoked_at
    FROM api_keys k WHERE k.secret_hash = p_secret_hash
  $$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION app_auth_session(p_token_hash text)
  RETURNS TABLE (creator_id uuid, session_id uuid, csrf_secret text, expires_at timestamptz)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
  AS $$
    SELECT s.creator_id, s.session_id, s.csrf_secret, s.expires_at
    FROM creator_sessions s WHERE s.token_hash = p_token_hash AND s.expires_at > now()
  $$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION app_login_lookup(p_email text)
  RETURNS TABLE (creator_id uuid, password_hash text)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
  AS $$
    SELECT c.creator_id, c.password_hash FROM creators c WHERE lower(c.email) = lower(p_email)
  $$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION app_auth_api_key(text), app_auth_session(text), app_login_lookup(text), app_enable_tenant_rls(regclass) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION app_auth_api_key(text), app_auth_session(text), app_login_lookup(text), app_current_creator() TO staryer_app;
