-- Realistic NOA data, generated in the server (no data files). Deterministic for a given day:
-- setseed() fixes random(); timestamps are relative to now().
-- Volumes: 2k organizations, 20k users, 6k API keys, 30k sessions, ~300k request_log rows over
-- 30 days (daily and weekly pattern, one past error spike), 50k jobs, ~100k AI provider calls
-- (one past provider degradation), ~6k invoices, 24 migrations.
-- Subqueries that draw random() columns end in OFFSET 0 so each row draws once.

SELECT setseed(0.4242);

INSERT INTO schema_migrations (version, name, applied_at)
SELECT to_char(ts, 'YYYYMMDDHH24MISS'), name, ts
FROM (
    SELECT now() - (400 - i * 16) * interval '1 day' + i * interval '37 minutes' AS ts, name
    FROM unnest(ARRAY[
        'init', 'organizations', 'users', 'api_keys', 'sessions', 'request_log',
        'jobs_queue', 'request_log_indexes', 'ai_provider_calls', 'invoices',
        'api_key_scopes', 'users_last_login', 'jobs_locking', 'request_log_request_id',
        'org_regions', 'ai_cost_numeric', 'sessions_ip_inet', 'jobs_ready_index',
        'org_budget', 'request_log_error_index', 'api_key_expiry', 'ai_error_codes',
        'account_numbers', 'invoice_numbers'
    ]) WITH ORDINALITY AS m(name, i)
) s;

INSERT INTO organizations (id, slug, name, plan, region, monthly_budget_usd, created_at)
SELECT g,
       lower(w1 || '-' || w2) || '-' || g,
       initcap(w1) || ' ' || initcap(w2),
       CASE WHEN r_plan < 0.50 THEN 'free' WHEN r_plan < 0.80 THEN 'team'
            WHEN r_plan < 0.95 THEN 'business' ELSE 'enterprise' END,
       (ARRAY['eu-west-1', 'eu-central-1', 'us-east-1', 'us-west-2'])[1 + floor(r_region * 4)::int],
       CASE WHEN r_plan < 0.50 THEN NULL ELSE round((50 + r_budget * 5000)::numeric, 2) END,
       now() - (30 + r_age * 700) * interval '1 day'
FROM (
    SELECT g,
           (ARRAY['acme', 'nordic', 'blue', 'quantum', 'lumen', 'atlas', 'polar', 'vertex',
                  'cedar', 'harbor', 'summit', 'orbit', 'delta', 'nova', 'granite', 'river'])
               [1 + floor(random() * 16)::int] AS w1,
           (ARRAY['labs', 'health', 'logistics', 'media', 'analytics', 'bank', 'retail',
                  'energy', 'studio', 'systems', 'legal', 'foods'])
               [1 + floor(random() * 12)::int] AS w2,
           random() AS r_plan, random() AS r_region, random() AS r_budget, random() AS r_age
    FROM generate_series(1, 2000) AS g
    OFFSET 0
) s;

-- User g belongs to organization 1 + (g-1) % 2000; users 1..2000 are the owners.
INSERT INTO users (id, org_id, email, display_name, role, is_active, created_at, last_login_at)
SELECT g, o.id,
       'user' || g || '@' || o.slug || '.example.com',
       (ARRAY['Alex', 'Sam', 'Kim', 'Noor', 'Lea', 'Jonas', 'Mia', 'Omar', 'Ines', 'Ravi'])
           [1 + floor(r_name * 10)::int] || ' ' || chr(65 + floor(r_role * 26)::int) || '.',
       CASE WHEN g <= 2000 THEN 'owner' WHEN r_role < 0.10 THEN 'admin'
            WHEN r_role < 0.80 THEN 'member' ELSE 'viewer' END,
       r_active > 0.04,
       o.created_at + r_age * (now() - o.created_at),
       CASE WHEN r_login < 0.85 THEN now() - r_login * 30 * interval '1 day' END
FROM (
    SELECT g, random() AS r_name, random() AS r_role, random() AS r_active, random() AS r_age,
           random() AS r_login
    FROM generate_series(1, 20000) AS g
    OFFSET 0
) s
JOIN organizations o ON o.id = 1 + (s.g - 1) % 2000;

-- Three keys per organization (ids 3(o-1)+1 .. 3(o-1)+3); only the sha256 of each key is kept.
INSERT INTO api_keys (id, org_id, created_by, name, prefix, key_hash, scopes, created_at,
                      last_used_at, expires_at, revoked_at)
SELECT (o.id - 1) * 3 + k, o.id, o.id,
       (ARRAY['production', 'staging', 'ci'])[k],
       left(plain, 11),
       sha256(convert_to(plain, 'UTF8')),
       CASE WHEN k = 3 THEN ARRAY['read'] ELSE ARRAY['read', 'write', 'ai'] END,
       o.created_at + r_created * (now() - o.created_at),
       CASE WHEN r_used < 0.9 THEN now() - r_used * interval '3 days' END,
       CASE WHEN k = 3 THEN now() + (r_used * 120 - 20) * interval '1 day' END,
       CASE WHEN r_revoked < 0.08 THEN now() - r_revoked * 100 * interval '1 day' END
FROM (
    SELECT o.id AS org_id, k,
           'noa_sk_' || md5(random()::text || o.id || ':' || k) || md5(random()::text) AS plain,
           random() AS r_created, random() AS r_used, random() AS r_revoked
    FROM organizations o CROSS JOIN generate_series(1, 3) AS k
    OFFSET 0
) s
JOIN organizations o ON o.id = s.org_id;

INSERT INTO sessions (user_id, created_at, expires_at, ip, user_agent, revoked)
SELECT 1 + floor(r_user * 20000)::int,
       now() - r_t * interval '14 days',
       now() - r_t * interval '14 days' + interval '7 days',
       ('10.' || floor(r_ip * 256)::int || '.' || floor(r_t * 256)::int || '.'
           || (1 + floor(r_user * 254)::int))::inet,
       (ARRAY['Mozilla/5.0 (Macintosh) Firefox/131.0', 'Mozilla/5.0 (Windows NT 10.0) Chrome/130.0',
              'noa-cli/2.4.1', 'noa-python/1.9.0', 'Mozilla/5.0 (iPhone) Safari/18.1'])
           [1 + floor(r_ua * 5)::int],
       r_ua > 0.95
FROM (
    SELECT random() AS r_user, random() AS r_t, random() AS r_ip, random() AS r_ua
    FROM generate_series(1, 30000)
    OFFSET 0
) s;

-- request_log: per-hour volumes follow a daily sine (peak ~15:00 UTC, +-15% noise) and quieter
-- weekends; 3 days ago a 45-minute spike of 5xx errors (the kind of thing an incident runbook
-- finds).
INSERT INTO request_log (created_at, org_id, api_key_id, method, endpoint, status, latency_ms,
                         bytes_out, request_id)
SELECT ts, org_id,
       CASE WHEN r_key < 0.05 THEN NULL ELSE (org_id - 1) * 3 + 1 + floor(r_key * 3)::int END,
       (ARRAY['POST', 'POST', 'POST', 'POST', 'POST', 'POST', 'POST', 'GET', 'GET', 'GET',
              'GET', 'GET', 'GET', 'POST', 'POST', 'GET', 'POST', 'GET', 'GET', 'POST'])[ep],
       (ARRAY['/v1/chat/completions', '/v1/chat/completions', '/v1/chat/completions',
              '/v1/chat/completions', '/v1/chat/completions', '/v1/embeddings', '/v1/embeddings',
              '/v1/conversations', '/v1/conversations', '/v1/conversations',
              '/v1/conversations/{id}', '/v1/conversations/{id}', '/v1/conversations/{id}',
              '/v1/conversations/{id}/messages', '/v1/conversations/{id}/messages',
              '/v1/models', '/v1/files', '/v1/users/me', '/v1/users/me', '/v1/auth/token'])[ep],
       status,
       CASE WHEN status = 504 THEN 30000 + floor(r_lat * 500)::int
            ELSE greatest(1, round(base_ms * exp(0.55 * z)
                                   * CASE WHEN spike THEN 3 ELSE 1 END))::int END,
       CASE WHEN status < 400 THEN round(400 + 6000 * exp(z))::int ELSE 120 END,
       gen_random_uuid()
FROM (
    SELECT *,
           (ARRAY[900, 900, 900, 900, 900, 120, 120, 45, 45, 45, 30, 30, 30, 600, 600, 15, 250,
                  12, 12, 80])[ep] AS base_ms,
           CASE
               WHEN r_status < CASE WHEN spike THEN 0.12 ELSE 0.004 END
                   THEN (ARRAY[500, 502, 503])[1 + floor(r_lat * 3)::int]
               WHEN r_status < CASE WHEN spike THEN 0.14 ELSE 0.006 END THEN 504
               WHEN r_status < 0.02 THEN 429
               WHEN r_status < 0.035 THEN (ARRAY[401, 403, 404, 422])[1 + floor(r_lat * 4)::int]
               ELSE 200
           END AS status
    FROM (
        SELECT ts, 1 + floor(2000 * r_org ^ 3)::int AS org_id, 1 + floor(r_ep * 20)::int AS ep,
               r_key, r_status, r_lat,
               sqrt(-2 * ln(1 - r_z1)) * cos(2 * pi() * r_z2) AS z,
               ts BETWEEN now() - interval '3 days 4 hours'
                      AND now() - interval '3 days 3 hours 15 minutes' AS spike
        FROM (
            SELECT h.hour_start + random() * least(interval '1 hour', now() - h.hour_start) AS ts,
                   random() AS r_org, random() AS r_ep, random() AS r_key, random() AS r_status,
                   random() AS r_lat, random() AS r_z1, random() AS r_z2
            FROM (
                SELECT date_trunc('hour', now()) - n * interval '1 hour' AS hour_start
                FROM generate_series(0, 719) AS n
            ) h
            CROSS JOIN LATERAL generate_series(1, round(
                430 * (0.85 + 0.3 * random()) * (1 + 0.55 * sin(2 * pi() * (extract(hour FROM h.hour_start AT TIME ZONE 'UTC') - 9) / 24))
                    * CASE WHEN extract(isodow FROM h.hour_start AT TIME ZONE 'UTC') IN (6, 7)
                           THEN 0.65 ELSE 1.1 END)::int)
            OFFSET 0
        ) raw
        OFFSET 0
    ) shaped
    OFFSET 0
) final
ORDER BY ts;

-- jobs: a queue with a small live backlog, a few running, mostly done, some failed.
INSERT INTO jobs (queue, kind, org_id, payload, state, attempts, run_at, locked_by, locked_at,
                  last_error, created_at, finished_at)
SELECT CASE WHEN kind IN ('send_email', 'deliver_webhook') THEN 'notifications'
            WHEN kind IN ('ai_batch', 'index_documents') THEN 'ai' ELSE 'default' END,
       kind, org_id,
       jsonb_build_object('org_id', org_id, 'kind', kind, 'priority', floor(r_d * 3)::int),
       state,
       CASE state WHEN 'queued' THEN 0 WHEN 'running' THEN 1 WHEN 'failed' THEN 5
                  ELSE 1 + (r_d > 0.95)::int END,
       CASE WHEN state = 'queued' THEN created_at + r_d * interval '20 minutes' ELSE created_at END,
       CASE WHEN state = 'running' THEN 'worker-' || (1 + floor(r_d * 8)::int) END,
       CASE WHEN state = 'running' THEN created_at + interval '2 seconds' END,
       CASE WHEN state = 'failed' THEN (ARRAY['provider timeout after 30s',
                                              'webhook endpoint returned 410',
                                              'document too large (>50 MB)',
                                              'deadlock detected'])[1 + floor(r_d * 4)::int] END,
       created_at,
       CASE WHEN state IN ('done', 'failed') THEN created_at + (1 + r_d * 120) * interval '1 second' END
FROM (
    SELECT *,
           CASE WHEN state = 'queued' THEN now() - r_t * interval '10 minutes'
                WHEN state = 'running' THEN now() - r_t * interval '5 minutes'
                ELSE now() - interval '11 minutes' - r_t * interval '7 days' END AS created_at
    FROM (
        SELECT (ARRAY['send_email', 'send_email', 'deliver_webhook', 'generate_report', 'ai_batch',
                      'index_documents', 'billing_sync', 'cleanup_sessions'])
                   [1 + floor(random() * 8)::int] AS kind,
               1 + floor(2000 * random() ^ 2)::int AS org_id,
               CASE WHEN r < 0.008 THEN 'queued' WHEN r < 0.0115 THEN 'running'
                    WHEN r < 0.04 THEN 'failed' ELSE 'done' END AS state,
               random() AS r_t, random() AS r_d
        FROM (SELECT random() AS r FROM generate_series(1, 50000) OFFSET 0) g
        OFFSET 0
    ) s
) t
ORDER BY t.created_at;

-- ai_provider_calls: same daily shape as traffic; 6 days ago Anthropic degraded for an hour.
INSERT INTO ai_provider_calls (created_at, org_id, provider, model, prompt_tokens,
                               completion_tokens, cost_usd, latency_ms, status, error_code)
SELECT ts, org_id, m.provider, m.model, prompt_tokens,
       CASE WHEN status = 'ok' THEN completion_tokens ELSE 0 END,
       round(((prompt_tokens * m.in_per_m
               + CASE WHEN status = 'ok' THEN completion_tokens * m.out_per_m ELSE 0 END)
              / 1e6)::numeric, 6),
       CASE WHEN status = 'timeout' THEN 30000
            ELSE greatest(50, round((m.base_ms + completion_tokens * m.ms_per_token)
                                    * exp(0.3 * z) * CASE WHEN degraded THEN 3 ELSE 1 END))::int END,
       status,
       CASE status WHEN 'error' THEN 'provider_5xx' WHEN 'timeout' THEN 'timeout'
                   WHEN 'rate_limited' THEN 'http_429' END
FROM (
    SELECT *,
           CASE WHEN r_status < CASE WHEN degraded THEN 0.70 ELSE 0.97 END THEN 'ok'
                WHEN r_status < CASE WHEN degraded THEN 0.88 ELSE 0.985 END THEN 'error'
                WHEN r_status < CASE WHEN degraded THEN 0.97 ELSE 0.99 END THEN 'timeout'
                ELSE 'rate_limited' END AS status
    FROM (
        SELECT ts, k, 1 + floor(2000 * r_org ^ 3)::int AS org_id,
               200 + floor(3800 * r_p ^ 2)::int AS prompt_tokens,
               20 + floor(1500 * r_c ^ 1.5)::int AS completion_tokens,
               sqrt(-2 * ln(1 - r_z1)) * cos(2 * pi() * r_z2) AS z,
               r_status,
               k BETWEEN 3 AND 5
                   AND ts BETWEEN now() - interval '6 days 2 hours' AND now() - interval '6 days 1 hour'
                   AS degraded
        FROM (
            SELECT h.hour_start + random() * least(interval '1 hour', now() - h.hour_start) AS ts,
                   (ARRAY[0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 3, 3, 4, 4, 5, 6, 6, 7, 8, 9])
                       [1 + floor(random() * 23)::int] AS k,
                   random() AS r_org, random() AS r_p, random() AS r_c, random() AS r_status,
                   random() AS r_z1, random() AS r_z2
            FROM (
                SELECT date_trunc('hour', now()) - n * interval '1 hour' AS hour_start
                FROM generate_series(0, 719) AS n
            ) h
            CROSS JOIN LATERAL generate_series(1, round(
                143 * (0.85 + 0.3 * random()) * (1 + 0.55 * sin(2 * pi() * (extract(hour FROM h.hour_start AT TIME ZONE 'UTC') - 9) / 24))
                    * CASE WHEN extract(isodow FROM h.hour_start AT TIME ZONE 'UTC') IN (6, 7)
                           THEN 0.65 ELSE 1.1 END)::int)
            OFFSET 0
        ) raw
        OFFSET 0
    ) shaped
    OFFSET 0
) s
JOIN (VALUES
    (0, 'openai', 'gpt-4o-mini', 0.15, 0.60, 350, 6),
    (1, 'openai', 'gpt-4o', 2.50, 10.00, 600, 12),
    (2, 'openai', 'gpt-4.1', 2.00, 8.00, 650, 11),
    (3, 'anthropic', 'claude-sonnet-4', 3.00, 15.00, 700, 12),
    (4, 'anthropic', 'claude-haiku-3.5', 0.80, 4.00, 400, 7),
    (5, 'anthropic', 'claude-opus-4', 15.00, 75.00, 1200, 20),
    (6, 'google', 'gemini-2.5-flash', 0.30, 2.50, 380, 5),
    (7, 'google', 'gemini-2.5-pro', 1.25, 10.00, 900, 14),
    (8, 'mistral', 'mistral-small', 0.20, 0.60, 300, 6),
    (9, 'mistral', 'mistral-large', 2.00, 6.00, 700, 13)
) AS m(k, provider, model, in_per_m, out_per_m, base_ms, ms_per_token) ON m.k = s.k
ORDER BY ts;

-- invoices: six months for every paying organization; the current month is still unpaid.
INSERT INTO invoices (org_id, period_start, amount_usd, paid_at)
SELECT o.id,
       (date_trunc('month', now()) - mo * interval '1 month')::date,
       round((CASE o.plan WHEN 'team' THEN 99 WHEN 'business' THEN 499 ELSE 2999 END
              * (0.9 + random() * 0.4))::numeric, 2),
       CASE WHEN mo > 0 THEN date_trunc('month', now()) - (mo - 1) * interval '1 month'
                             + interval '5 days' END
FROM organizations o CROSS JOIN generate_series(0, 5) AS mo
WHERE o.plan <> 'free' AND o.created_at < date_trunc('month', now()) - mo * interval '1 month'
ORDER BY 2, 1;

-- Explicit ids were used above: move identity sequences past them.
SELECT setval(pg_get_serial_sequence('organizations', 'id'), (SELECT max(id) FROM organizations));
SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users));
SELECT setval(pg_get_serial_sequence('api_keys', 'id'), (SELECT max(id) FROM api_keys));
SELECT setval('account_number_seq', (SELECT max(account_number) FROM organizations));
