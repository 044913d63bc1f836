-- SPEC §4.1: the operator console's sessions. The browser holds a random session id in a cookie;
-- only its SHA-256 is stored, so reading this table does not hand out live sessions. The token's
-- hash is kept so that removing an operator's token from the configuration ends its sessions.
-- (Number 010: 006 to 009 are reserved for other work; the runner applies any unapplied file.)
CREATE TABLE console_session (
  id_sha256     bytea       PRIMARY KEY,
  operator      text        NOT NULL,
  token_sha256  bytea       NOT NULL,
  csrf_token    text        NOT NULL,
  -- One message for the next page (post, redirect, get), read once.
  flash         jsonb,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL
);
CREATE INDEX console_session_expiry ON console_session (expires_at);
