-- SPEC §9 "Migration is per environment": the test SML (SMK) and the production SML are two
-- registries, so "migrated away from hsmp" belongs to a participant in one environment, while
-- deactivation (CBE dump, operator removal) stays the enterprise's and applies to all.
-- (Numbered 006 as reserved for this change; named to sort after 006_seeded_test_data, so a fresh
-- database and an upgraded one apply the two in the same order.)

-- One row per environment in which the enterprise's participant has left hsmp (HSMP-013 there).
-- Sparse: a row only for migrated participants. `source` says who decided it.
CREATE TABLE participant_migration (
  enterprise_number char(10)    NOT NULL REFERENCES enterprise (enterprise_number),
  environment       text        NOT NULL CHECK (environment IN ('test', 'production')),
  migrated_at       timestamptz NOT NULL DEFAULT now(),
  source            text        NOT NULL CHECK (source IN ('reconciliation', 'operator', 'seed', 'before-per-environment')),
  PRIMARY KEY (enterprise_number, environment)
);

-- Today's rows keep their meaning: an enterprise migrated before this change is migrated in every
-- environment after it, since when it was (its last change), and is otherwise an active
-- enterprise. Its removed_by_operator flag is cleared: a migrated enterprise answered 013, not
-- 012, whatever removal came before the mark, and still does.
INSERT INTO participant_migration (enterprise_number, environment, migrated_at, source)
  SELECT e.enterprise_number, env.environment, e.updated_at, CASE WHEN e.test_data THEN 'seed' ELSE 'before-per-environment' END
    FROM enterprise e CROSS JOIN (VALUES ('test'), ('production')) AS env (environment)
   WHERE e.status = 'migrated';
UPDATE enterprise SET status = 'active', removed_by_operator = false WHERE status = 'migrated';
ALTER TABLE enterprise DROP CONSTRAINT enterprise_status_check;
ALTER TABLE enterprise ADD CONSTRAINT enterprise_status_check CHECK (status IN ('active', 'inactive'));

-- SPEC §9 "Revocation" and HSMP_KEY_MAX_AGE_DAYS: when the key was first handed out (the age a
-- rotation counts from), how often the participant's key was replaced, and a short lease that
-- lets one revocation at a time, across instances, talk to the SML about this participant
-- without holding a database connection through the SML call.
ALTER TABLE migration_key
  ADD COLUMN first_handed_out_at timestamptz,
  ADD COLUMN revocations integer NOT NULL DEFAULT 0,
  ADD COLUMN last_revoked_at timestamptz,
  ADD COLUMN revocation_lease_until timestamptz;
-- Keys handed out before this change: first handed out at their earliest 200 in the collection
-- log (one index probe per key); a key with no such row kept (retention) or none at all stays
-- NULL, and its age counts from its next collection.
UPDATE migration_key k SET first_handed_out_at = (
    SELECT min(l.collected_at) FROM collection_log l
     WHERE l.enterprise_number = k.enterprise_number AND l.environment = k.environment AND l.outcome = '200')
 WHERE k.prepared_at IS NOT NULL;

-- The hot path, per environment: 012 for an inactive enterprise (every environment), 013 where
-- the participant has migrated, else the key. It also records the first handing out of a
-- prepared key and returns it, for rotation by age.
DROP FUNCTION hsmp_collect_many(char(10)[], text[], bytea[], bytea[], uuid[], text[], text[], text[], text[], boolean);
DROP FUNCTION hsmp_collect(char(10), text, bytea, bytea, uuid, text, text, text, text, boolean);

CREATE FUNCTION hsmp_collect(
  p_enterprise_number char(10), p_environment text, p_candidate_ciphertext bytea, p_candidate_digest bytea,
  p_request_id uuid, p_seat_id text, p_fingerprint text, p_client_ip text, p_participant text, p_prepared_elsewhere boolean
) RETURNS TABLE (outcome text, key_ciphertext bytea, prepared boolean, handed_out_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
  v_status text;
  v_ciphertext bytea;
  v_prepared boolean;
  v_handed_out timestamptz;
  v_logged text;
BEGIN
  SELECT e.status INTO v_status FROM enterprise e WHERE e.enterprise_number = p_enterprise_number;
  IF v_status = 'active' AND EXISTS (
       SELECT 1 FROM participant_migration m WHERE m.enterprise_number = p_enterprise_number AND m.environment = p_environment) THEN
    outcome := 'HSMP-013';
  ELSIF v_status = 'active' THEN
    INSERT INTO migration_key AS k (enterprise_number, environment, key_ciphertext, key_digest, prepared_at, first_handed_out_at)
      VALUES (p_enterprise_number, p_environment, p_candidate_ciphertext, p_candidate_digest,
              CASE WHEN p_prepared_elsewhere THEN now() END, CASE WHEN p_prepared_elsewhere THEN now() END)
      ON CONFLICT (enterprise_number, environment) DO NOTHING
      RETURNING k.key_ciphertext, k.prepared_at IS NOT NULL, k.first_handed_out_at INTO v_ciphertext, v_prepared, v_handed_out;
    IF v_ciphertext IS NULL THEN
      -- Another collection won the race; READ COMMITTED gives this statement a fresh snapshot.
      SELECT k.key_ciphertext, k.prepared_at IS NOT NULL, k.first_handed_out_at INTO v_ciphertext, v_prepared, v_handed_out
        FROM migration_key k WHERE k.enterprise_number = p_enterprise_number AND k.environment = p_environment;
      IF v_prepared AND v_handed_out IS NULL THEN
        -- The first handing out of a prepared key. RETURNING gives the row as updated: if a
        -- revocation replaced the key meanwhile, this is the new key, handed out first now.
        UPDATE migration_key k SET first_handed_out_at = now()
         WHERE k.enterprise_number = p_enterprise_number AND k.environment = p_environment
           AND k.prepared_at IS NOT NULL AND k.first_handed_out_at IS NULL
        RETURNING k.key_ciphertext, k.first_handed_out_at INTO v_ciphertext, v_handed_out;
        IF NOT FOUND THEN
          SELECT k.key_ciphertext, k.prepared_at IS NOT NULL, k.first_handed_out_at INTO v_ciphertext, v_prepared, v_handed_out
            FROM migration_key k WHERE k.enterprise_number = p_enterprise_number AND k.environment = p_environment;
        END IF;
      END IF;
    END IF;
    outcome := '200';
  ELSIF v_status = 'inactive' THEN
    outcome := 'HSMP-012';
  ELSE
    outcome := 'HSMP-001';
  END IF;
  v_logged := CASE WHEN outcome = '200' AND NOT v_prepared THEN 'SML-PENDING' ELSE outcome END;
  INSERT INTO collection_log (request_id, seat_id, certificate_fingerprint, client_ip, environment, participant, enterprise_number, outcome)
    VALUES (p_request_id, p_seat_id, p_fingerprint, p_client_ip, p_environment, p_participant, p_enterprise_number, v_logged);
  key_ciphertext := v_ciphertext;
  prepared := coalesce(v_prepared, false);
  handed_out_at := v_handed_out;
  RETURN NEXT;
END
$$;

CREATE FUNCTION hsmp_collect_many(
  p_enterprise_numbers char(10)[], p_environments text[], p_candidate_ciphertexts bytea[], p_candidate_digests bytea[],
  p_request_ids uuid[], p_seat_ids text[], p_fingerprints text[], p_client_ips text[], p_participants text[], p_prepared_elsewhere boolean
) RETURNS TABLE (ordinal integer, outcome text, key_ciphertext bytea, prepared boolean, handed_out_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
  i integer;
BEGIN
  -- Key order, as in 003: concurrent batches take key rows (new ones, first handings out) in one
  -- global order and cannot deadlock.
  FOR i IN
    SELECT s FROM generate_subscripts(p_enterprise_numbers, 1) s
     ORDER BY p_enterprise_numbers[s], p_environments[s], s
  LOOP
    ordinal := i;
    SELECT c.outcome, c.key_ciphertext, c.prepared, c.handed_out_at INTO outcome, key_ciphertext, prepared, handed_out_at
      FROM hsmp_collect(p_enterprise_numbers[i], p_environments[i], p_candidate_ciphertexts[i], p_candidate_digests[i],
                        p_request_ids[i], p_seat_ids[i], p_fingerprints[i], p_client_ips[i], p_participants[i], p_prepared_elsewhere) c;
    RETURN NEXT;
  END LOOP;
END
$$;
