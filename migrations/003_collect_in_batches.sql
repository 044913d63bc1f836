-- Group commit for the hot path: the collections that arrive while earlier ones are in the
-- database travel as one call, one transaction and one commit. Each element runs
-- hsmp_collect (001) unchanged, so a batch answers exactly what its elements would alone.
-- Elements run in key order: concurrent batches then wait on each other's new migration_key
-- rows in one global order and cannot deadlock; a repeated element sees the key its earlier
-- twin issued in the same transaction.
CREATE FUNCTION hsmp_collect_many(
  p_enterprise_numbers char(10)[], p_environments text[], p_candidate_ciphertexts bytea[], p_candidate_digests bytea[],
  p_request_ids uuid[], p_seat_ids text[], p_fingerprints text[], p_client_ips text[], p_participants text[]
) RETURNS TABLE (ordinal integer, outcome text, key_ciphertext bytea)
LANGUAGE plpgsql AS $$
DECLARE
  i integer;
BEGIN
  FOR i IN
    SELECT s FROM generate_subscripts(p_enterprise_numbers, 1) s
     ORDER BY p_enterprise_numbers[s], p_environments[s], s
  LOOP
    ordinal := i;
    SELECT c.outcome, c.key_ciphertext INTO outcome, key_ciphertext
      FROM hsmp_collect(p_enterprise_numbers[i], p_environments[i], p_candidate_ciphertexts[i], p_candidate_digests[i],
                        p_request_ids[i], p_seat_ids[i], p_fingerprints[i], p_client_ips[i], p_participants[i]) c;
    RETURN NEXT;
  END LOOP;
END
$$;
