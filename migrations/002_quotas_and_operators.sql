-- Blocks, scheduled allowances and the operators' audit log (SPEC §3, §4).

-- A block lasts until an operator lifts it; at most one block in force per subject.
-- subject: '<environment>:<seat id>' for a user, the address for an IP, '*' for the global lock.
CREATE TABLE block (
  id          bigserial   PRIMARY KEY,
  kind        text        NOT NULL CHECK (kind IN ('user', 'ip', 'global')),
  subject     text        NOT NULL,
  blocked_at  timestamptz NOT NULL DEFAULT now(),
  reason      text        NOT NULL,
  lifted_at   timestamptz,
  lifted_by   text,
  lift_reason text
);
CREATE UNIQUE INDEX block_in_force ON block (kind, subject) WHERE lifted_at IS NULL;

CREATE TABLE allowance (
  id          bigserial   PRIMARY KEY,
  seat_id     text        NOT NULL,
  environment text        NOT NULL CHECK (environment IN ('test', 'production')),
  daily_limit integer     NOT NULL CHECK (daily_limit > 0),
  valid_from  timestamptz NOT NULL,
  valid_to    timestamptz NOT NULL CHECK (valid_to > valid_from),
  granted_by  text        NOT NULL,
  granted_at  timestamptz NOT NULL DEFAULT now(),
  reason      text,
  revoked_at  timestamptz,
  revoked_by  text
);
CREATE INDEX allowance_current ON allowance (valid_to) WHERE revoked_at IS NULL;

CREATE TABLE audit_log (
  id       bigserial   PRIMARY KEY,
  at       timestamptz NOT NULL DEFAULT now(),
  operator text        NOT NULL,
  action   text        NOT NULL,
  target   text,
  reason   text,
  details  jsonb
);
CREATE INDEX audit_log_at ON audit_log (at);
