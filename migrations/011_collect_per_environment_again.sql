-- 008 redefined the hot path from 005's text (to give each collection-log row its request's
-- time), which dropped what 006 had added to it: the per-environment HSMP-013 and the record of
-- a key's first handing out. This is 006's hot path with 008's p_requested_at kept.
-- A later migration that redefines hsmp_collect must keep both.
DROP FUNCTION hsmp_collect_many(char(10)[], text[], bytea[], bytea[], uuid[], text[], text[], text[], text[], boolean, timestamptz[]);
DROP FUNCTION hsmp_collect(char(10), text, bytea, bytea, uuid, text, text, text, text, boolean, timestamptz);

CREATE FUNCTION hsmp_collect(
  p_enterprise_number char(10), p_environment text, p_candidate_ciphertext bytea, p_candidate_digest bytea,
  p_request_id uuid, p_seat_id text, p_fingerprint text, p_client_ip text, p_participant text, p_prepared_elsewhere boolean,
  p_requested_at timestamptz
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
  INSERT INTO collection_log (request_id, collected_at, seat_id, certificate_fingerprint, client_ip, environment, participant, enterprise_number, outcome)
    VALUES (p_request_id, p_requested_at, p_seat_id, p_fingerprint, p_client_ip, p_environment, p_participant, p_enterprise_number, v_logged);
  key_ciphertext := v_ciphertext;
  prepared := coalesce(v_prepared, false);
  handed_out_at := v_handed_out;
  RETURN NEXT;
END
$$;

CREATE FUNCTION hsmp_collect_many(
  p_enterprise_numbers char(10)[], p_environments text[], p_candidate_ciphertexts bytea[], p_candidate_digests bytea[],
  p_request_ids uuid[], p_seat_ids text[], p_fingerprints text[], p_client_ips text[], p_participants text[], p_prepared_elsewhere boolean,
  p_requested_ats timestamptz[]
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
                        p_request_ids[i], p_seat_ids[i], p_fingerprints[i], p_client_ips[i], p_participants[i], p_prepared_elsewhere,
                        p_requested_ats[i]) c;
    RETURN NEXT;
  END LOOP;
END
$$;
