-- SPEC §4: work that can outlast an HTTP request (a CBE import, a reconciliation, a bulk
-- preparation) runs as a job on the server, with a stored state and progress that any
-- instance can show. One job of each kind runs at a time across all instances: the partial
-- unique index says so. A job's instance renews its lease while it works; a running job whose
-- lease ran out belongs to an instance that died, and the next start of that kind marks it
-- abandoned instead of waiting for it forever.
CREATE TABLE job (
  id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind         text        NOT NULL CHECK (kind IN ('import-kbo', 'sml-reconcile', 'sml-prepare')),
  state        text        NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'succeeded', 'failed', 'abandoned')),
  operator     text        NOT NULL,
  reason       text,
  input        jsonb       NOT NULL DEFAULT '{}',
  progress     jsonb       NOT NULL DEFAULT '{}',
  result       jsonb,
  problem      jsonb,
  instance     text        NOT NULL,
  -- Bumped by every write, so that a follower waits for a change rather than polling blindly.
  revision     integer     NOT NULL DEFAULT 0,
  started_at   timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now(),
  lease_until  timestamptz NOT NULL,
  finished_at  timestamptz,
  CHECK ((state = 'running') = (finished_at IS NULL))
);
CREATE UNIQUE INDEX job_one_running_per_kind ON job (kind) WHERE state = 'running';

-- SPEC §9: the reconciliation's safety valve looks at a window (HSMP_SML_RECONCILE_WINDOW_HOURS),
-- not only at one run: a listing that loses a few per cent an hour must be refused too. One row
-- per finished reconciliation of an environment.
CREATE TABLE sml_reconciliation_run (
  id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  environment text        NOT NULL CHECK (environment IN ('test', 'production')),
  finished_at timestamptz NOT NULL DEFAULT now(),
  job_id      bigint      REFERENCES job (id),
  listed      integer     NOT NULL,
  pages       integer     NOT NULL,
  prepared    integer     NOT NULL,
  marked      integer     NOT NULL,
  forced      boolean     NOT NULL
);
CREATE INDEX sml_reconciliation_run_window ON sml_reconciliation_run (environment, finished_at);
