-- Post-data part of the NOA schema: primary keys of the large tables, foreign keys and secondary
-- indexes, applied after the bulk load like pg_restore's post-data section (per-row FK triggers and index maintenance would
-- make loading several times slower).

ALTER TABLE request_log ADD PRIMARY KEY (id);
ALTER TABLE jobs ADD PRIMARY KEY (id);
ALTER TABLE ai_provider_calls ADD PRIMARY KEY (id);

ALTER TABLE users ADD CONSTRAINT users_org_id_fkey
    FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_org_id_fkey
    FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_created_by_fkey
    FOREIGN KEY (created_by) REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE sessions ADD CONSTRAINT sessions_user_id_fkey
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE request_log ADD CONSTRAINT request_log_org_id_fkey
    FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE SET NULL;
ALTER TABLE request_log ADD CONSTRAINT request_log_api_key_id_fkey
    FOREIGN KEY (api_key_id) REFERENCES api_keys (id) ON DELETE SET NULL;
ALTER TABLE jobs ADD CONSTRAINT jobs_org_id_fkey
    FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE;
ALTER TABLE ai_provider_calls ADD CONSTRAINT ai_provider_calls_org_id_fkey
    FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE SET NULL;
ALTER TABLE invoices ADD CONSTRAINT invoices_org_id_fkey
    FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE;

CREATE INDEX users_org_id_idx ON users (org_id);
CREATE INDEX api_keys_org_id_idx ON api_keys (org_id);
CREATE INDEX api_keys_active_idx ON api_keys (org_id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at) WHERE NOT revoked;
CREATE INDEX request_log_created_at_idx ON request_log (created_at);
CREATE INDEX request_log_org_created_idx ON request_log (org_id, created_at);
CREATE INDEX request_log_errors_idx ON request_log (created_at) WHERE status >= 500;
CREATE INDEX jobs_ready_idx ON jobs (queue, run_at) WHERE state = 'queued';
CREATE INDEX jobs_state_idx ON jobs (state, created_at);
CREATE INDEX ai_provider_calls_created_at_idx ON ai_provider_calls (created_at);
CREATE INDEX ai_provider_calls_provider_idx ON ai_provider_calls (provider, created_at);
