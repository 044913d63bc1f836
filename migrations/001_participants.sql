-- Enterprises hsmp holds, their migration keys and every collection (SPEC §2, §5).

CREATE TABLE enterprise (
  enterprise_number  char(10)    PRIMARY KEY CHECK (enterprise_number ~ '^[01][0-9]{9}$'),
  status             text        NOT NULL CHECK (status IN ('active', 'inactive', 'migrated')),
  -- An operator's removal survives CBE imports until an operator restores the enterprise.
  removed_by_operator boolean    NOT NULL DEFAULT false,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);

-- One key per participant and environment. The key is stored encrypted (AES-256-GCM, the row
-- bound in as associated data); key_digest is an HMAC of the key, so that no key value can
-- ever serve two participants (unique) without the plaintext being stored.
CREATE TABLE migration_key (
  enterprise_number char(10)    NOT NULL REFERENCES enterprise (enterprise_number),
  environment       text        NOT NULL CHECK (environment IN ('test', 'production')),
  key_ciphertext    bytea       NOT NULL,
  key_digest        bytea       NOT NULL UNIQUE,
  created_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (enterprise_number, environment)
);

CREATE TABLE collection_log (
  id                      bigserial   PRIMARY KEY,
  request_id              uuid        NOT NULL,
  collected_at            timestamptz NOT NULL DEFAULT now(),
  seat_id                 text        NOT NULL,
  certificate_fingerprint text        NOT NULL,
  client_ip               text        NOT NULL,
  environment             text        NOT NULL,
  participant             text        NOT NULL,
  enterprise_number       char(10),
  outcome                 text        NOT NULL
);
CREATE INDEX collection_log_seat ON collection_log (seat_id, collected_at);
CREATE INDEX collection_log_enterprise ON collection_log (enterprise_number, collected_at);
CREATE INDEX collection_log_time ON collection_log (collected_at);

-- Records a fingerprint of the key-encryption key, so that a service started with another
-- key refuses to run instead of failing on every collection.
CREATE TABLE key_encryption_check (
  singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  digest     bytea   NOT NULL
);

-- The hot path in one round trip: look the enterprise up, issue the key if it has none
-- (the primary key decides between concurrent first collections), and log the collection
-- in the same transaction, so a 200 is durable before the key leaves.
CREATE FUNCTION hsmp_collect(
  p_enterprise_number char(10), p_environment text, p_candidate_ciphertext bytea, p_candidate_digest bytea,
  p_request_id uuid, p_seat_id text, p_fingerprint text, p_client_ip text, p_participant text
) RETURNS TABLE (outcome text, key_ciphertext bytea)
LANGUAGE plpgsql AS $$
DECLARE
  v_status text;
  v_ciphertext bytea;
BEGIN
  SELECT e.status INTO v_status FROM enterprise e WHERE e.enterprise_number = p_enterprise_number;
  IF v_status = 'active' THEN
    INSERT INTO migration_key AS k (enterprise_number, environment, key_ciphertext, key_digest)
      VALUES (p_enterprise_number, p_environment, p_candidate_ciphertext, p_candidate_digest)
      ON CONFLICT (enterprise_number, environment) DO NOTHING
      RETURNING k.key_ciphertext INTO v_ciphertext;
    IF v_ciphertext IS NULL THEN
      -- Another collection won the race; READ COMMITTED gives this statement a fresh snapshot.
      SELECT k.key_ciphertext INTO v_ciphertext FROM migration_key k
        WHERE k.enterprise_number = p_enterprise_number AND k.environment = p_environment;
    END IF;
    outcome := '200';
  ELSIF v_status = 'inactive' THEN
    outcome := 'HSMP-012';
  ELSIF v_status = 'migrated' THEN
    outcome := 'HSMP-013';
  ELSE
    outcome := 'HSMP-001';
  END IF;
  INSERT INTO collection_log (request_id, seat_id, certificate_fingerprint, client_ip, environment, participant, enterprise_number, outcome)
    VALUES (p_request_id, p_seat_id, p_fingerprint, p_client_ip, p_environment, p_participant, p_enterprise_number, outcome);
  key_ciphertext := v_ciphertext;
  RETURN NEXT;
END
$$;
