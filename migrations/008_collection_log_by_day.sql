-- SPEC §5 at production size: a year of collection log (~30 million rows) that operators read
-- page by page within 100 ms, and rows older than HSMP_LOG_RETENTION_DAYS removed cheaply.
--
-- The log becomes a table partitioned by Brussels day (the operators' `day` filter and the
-- quota day): removing a day is dropping its partition (no DELETE, no full scan, no bloat), a
-- `day` read touches one partition, and each index is a day's worth, so the random inserts of
-- first collections touch small, warm indexes instead of one that grows all year (a first
-- collection wrote ~12x the WAL at 30 million rows, mostly full-page images of that index).
-- A default partition holds whatever arrives for a day without its partition, so an insert
-- never fails for want of one; hsmp_collection_log_day moves such rows into their day.
--
-- Every row keeps its id, times and values. New: request_id is unique (with the time, as a
-- partitioned table's unique keys must hold the partition key), and the time of a collection is
-- the time its request arrived, given by the service, so that every write of one request's row
-- (the collection, a retried refusal, the outcome of an answer whose commit was unacknowledged)
-- names the same row. Indexes are ordered by id, the order operators page in.
--
-- A later migration that redefines hsmp_collect must keep p_requested_at (the row's time).

ALTER TABLE collection_log RENAME TO collection_log_before_008;
ALTER TABLE collection_log_before_008 RENAME CONSTRAINT collection_log_pkey TO collection_log_before_008_pkey;
DROP INDEX collection_log_seat, collection_log_enterprise, collection_log_time;
ALTER SEQUENCE collection_log_id_seq OWNED BY NONE;

CREATE TABLE collection_log (
  id                      bigint      NOT NULL DEFAULT nextval('collection_log_id_seq'),
  request_id              uuid        NOT NULL,
  collected_at            timestamptz NOT NULL DEFAULT now(),
  seat_id                 text        NOT NULL,
  certificate_fingerprint text        NOT NULL,
  client_ip               text        NOT NULL,
  environment             text        NOT NULL,
  participant             text        NOT NULL,
  enterprise_number       char(10),
  outcome                 text        NOT NULL,
  PRIMARY KEY (id, collected_at),
  UNIQUE (request_id, collected_at)
) PARTITION BY RANGE (collected_at);
ALTER SEQUENCE collection_log_id_seq OWNED BY collection_log.id;
CREATE INDEX collection_log_enterprise ON collection_log (enterprise_number, id);
CREATE INDEX collection_log_seat ON collection_log (seat_id, id);
-- Rows whose participant is no enterprise number (HSMP-001 for garbage) are found by what was asked.
CREATE INDEX collection_log_unparsed_participant ON collection_log (participant, id) WHERE enterprise_number IS NULL;
CREATE TABLE collection_log_default PARTITION OF collection_log DEFAULT;

-- The partition of one Brussels day, created if missing; rows of that day waiting in the default
-- partition move into it. Returns the partition's name.
CREATE FUNCTION hsmp_collection_log_day(p_day date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  v_name text := 'collection_log_' || to_char(p_day, 'YYYYMMDD');
  v_from timestamptz := p_day::timestamp AT TIME ZONE 'Europe/Brussels';
  v_to timestamptz := (p_day + 1)::timestamp AT TIME ZONE 'Europe/Brussels';
BEGIN
  IF to_regclass(v_name) IS NOT NULL THEN
    RETURN v_name;
  END IF;
  IF EXISTS (SELECT 1 FROM collection_log_default WHERE collected_at >= v_from AND collected_at < v_to) THEN
    EXECUTE format('CREATE TABLE %I (LIKE collection_log INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', v_name);
    EXECUTE format('INSERT INTO %I SELECT * FROM collection_log_default WHERE collected_at >= %L AND collected_at < %L', v_name, v_from, v_to);
    DELETE FROM collection_log_default WHERE collected_at >= v_from AND collected_at < v_to;
    EXECUTE format('ALTER TABLE collection_log ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', v_name, v_from, v_to);
  ELSE
    EXECUTE format('CREATE TABLE %I PARTITION OF collection_log FOR VALUES FROM (%L) TO (%L)', v_name, v_from, v_to);
  END IF;
  RETURN v_name;
END
$$;

-- The day partitions of the log, oldest first, with the instant each one ends.
CREATE VIEW collection_log_days AS
SELECT c.relname AS partition,
       to_date(substr(c.relname, 16), 'YYYYMMDD') AS day,
       (to_date(substr(c.relname, 16), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'Europe/Brussels' AS ends_at
  FROM pg_inherits i
  JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'collection_log'::regclass AND c.relname ~ '^collection_log_[0-9]{8}$';

-- A partition for every day that has rows, and for today and the next week; then the rows.
SELECT hsmp_collection_log_day(d)
  FROM (SELECT DISTINCT (collected_at AT TIME ZONE 'Europe/Brussels')::date AS d FROM collection_log_before_008
        UNION
        SELECT (now() AT TIME ZONE 'Europe/Brussels')::date + n FROM generate_series(0, 7) n) days;
INSERT INTO collection_log SELECT * FROM collection_log_before_008;
DROP TABLE collection_log_before_008;

-- The hot path as in 005, with the time of each request: the row's time and its key with the request id.
DROP FUNCTION hsmp_collect_many(char(10)[], text[], bytea[], bytea[], uuid[], text[], text[], text[], text[], boolean);
DROP FUNCTION hsmp_collect(char(10), text, bytea, bytea, uuid, text, text, text, text, boolean);

CREATE FUNCTION hsmp_collect(
  p_enterprise_number char(10), p_environment text, p_candidate_ciphertext bytea, p_candidate_digest bytea,
  p_request_id uuid, p_seat_id text, p_fingerprint text, p_client_ip text, p_participant text, p_prepared_elsewhere boolean,
  p_requested_at timestamptz
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
  INSERT INTO collection_log (request_id, collected_at, seat_id, certificate_fingerprint, client_ip, environment, participant, enterprise_number, outcome)
    VALUES (p_request_id, p_requested_at, p_seat_id, p_fingerprint, p_client_ip, p_environment, p_participant, p_enterprise_number, v_logged);
  key_ciphertext := v_ciphertext;
  prepared := coalesce(v_prepared, false);
  RETURN NEXT;
END
$$;

CREATE FUNCTION hsmp_collect_many(
  p_enterprise_numbers char(10)[], p_environments text[], p_candidate_ciphertexts bytea[], p_candidate_digests bytea[],
  p_request_ids uuid[], p_seat_ids text[], p_fingerprints text[], p_client_ips text[], p_participants text[], p_prepared_elsewhere boolean,
  p_requested_ats timestamptz[]
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
                        p_request_ids[i], p_seat_ids[i], p_fingerprints[i], p_client_ips[i], p_participants[i], p_prepared_elsewhere,
                        p_requested_ats[i]) c;
    RETURN NEXT;
  END LOOP;
END
$$;

-- The audit log is kept (SPEC §5) and read by operator too.
CREATE INDEX audit_log_operator ON audit_log (operator, id);
