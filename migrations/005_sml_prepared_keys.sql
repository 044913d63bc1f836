-- SPEC §9: a key is worth something only once the environment's SML holds it (PrepareToMigrate).
-- A key row is *generated* (prepared_at NULL) until the SML accepted it, then *prepared*.
-- A finished migration is the enterprise's status 'migrated', as before.
ALTER TABLE migration_key ADD COLUMN prepared_at timestamptz;
-- Keys issued before this migration were handed out without the SML: prepare them on their
-- next collection (NULL), which repeats nothing harmful (a second prepare with the same key).
CREATE INDEX migration_key_generated ON migration_key (environment, enterprise_number) WHERE prepared_at IS NULL;

-- One row per environment: when a reconciliation last finished, so that several instances
-- sharing the database reconcile once per interval, not once each.
CREATE TABLE sml_reconciliation (
  environment  text        PRIMARY KEY CHECK (environment IN ('test', 'production')),
  finished_at  timestamptz NOT NULL,
  summary      jsonb       NOT NULL
);

-- The hot path now also says whether the key is prepared. p_prepared_elsewhere: HSMP_SML=off,
-- another system prepares the keys, so a new key counts as prepared at once.
-- The collection log says 'SML-PENDING' for a key the SML does not hold yet; the service
-- rewrites it to the request's real outcome (200, HSMP-013, HSMP-999) once the SML answered.
DROP FUNCTION hsmp_collect_many(char(10)[], text[], bytea[], bytea[], uuid[], text[], text[], text[], text[]);
DROP FUNCTION hsmp_collect(char(10), text, bytea, bytea, uuid, text, text, text, text);

CREATE FUNCTION hsmp_collect(
  p_enterprise_number char(10), p_environment text, p_candidate_ciphertext bytea, p_candidate_digest bytea,
  p_request_id uuid, p_seat_id text, p_fingerprint text, p_client_ip text, p_participant text, p_prepared_elsewhere boolean
) RETURNS TABLE (outcome text, key_ciphertext bytea, prepared boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_status text;
  v_ciphertext bytea;
  v_prepared boolean;
  v_logged text;
BEGIN
  SELECT e.status INTO v_status FROM enterprise e WHERE e.enterprise_number = p_enterprise_number;
  IF v_status = 'active' THEN
    INSERT INTO migration_key AS k (enterprise_number, environment, key_ciphertext, key_digest, prepared_at)
      VALUES (p_enterprise_number, p_environment, p_candidate_ciphertext, p_candidate_digest,
              CASE WHEN p_prepared_elsewhere THEN now() END)
      ON CONFLICT (enterprise_number, environment) DO NOTHING
      RETURNING k.key_ciphertext, k.prepared_at IS NOT NULL INTO v_ciphertext, v_prepared;
    IF v_ciphertext IS NULL THEN
      -- Another collection won the race; READ COMMITTED gives this statement a fresh snapshot.
      SELECT k.key_ciphertext, k.prepared_at IS NOT NULL INTO v_ciphertext, v_prepared FROM migration_key k
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
  v_logged := CASE WHEN outcome = '200' AND NOT v_prepared THEN 'SML-PENDING' ELSE outcome END;
  INSERT INTO collection_log (request_id, seat_id, certificate_fingerprint, client_ip, environment, participant, enterprise_number, outcome)
    VALUES (p_request_id, p_seat_id, p_fingerprint, p_client_ip, p_environment, p_participant, p_enterprise_number, v_logged);
  key_ciphertext := v_ciphertext;
  prepared := coalesce(v_prepared, false);
  RETURN NEXT;
END
$$;

CREATE FUNCTION hsmp_collect_many(
  p_enterprise_numbers char(10)[], p_environments text[], p_candidate_ciphertexts bytea[], p_candidate_digests bytea[],
  p_request_ids uuid[], p_seat_ids text[], p_fingerprints text[], p_client_ips text[], p_participants text[], p_prepared_elsewhere boolean
) RETURNS TABLE (ordinal integer, outcome text, key_ciphertext bytea, prepared boolean)
LANGUAGE plpgsql AS $$
DECLARE
  i integer;
BEGIN
  -- Key order, as in 003: concurrent batches take new key rows in one global order.
  FOR i IN
    SELECT s FROM generate_subscripts(p_enterprise_numbers, 1) s
     ORDER BY p_enterprise_numbers[s], p_environments[s], s
  LOOP
    ordinal := i;
    SELECT c.outcome, c.key_ciphertext, c.prepared INTO outcome, key_ciphertext, prepared
      FROM hsmp_collect(p_enterprise_numbers[i], p_environments[i], p_candidate_ciphertexts[i], p_candidate_digests[i],
                        p_request_ids[i], p_seat_ids[i], p_fingerprints[i], p_client_ips[i], p_participants[i], p_prepared_elsewhere) c;
    RETURN NEXT;
  END LOOP;
END
$$;
