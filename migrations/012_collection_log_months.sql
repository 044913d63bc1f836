-- SPEC §4 and §5 at a year of log: a participant's or a seat's read over the whole year matched a
-- handful of rows but planned and probed all ~373 day partitions (planning alone 144-190 ms at
-- 30 million rows). Sealed months are folded into one partition each, so a year is ~12 month
-- partitions and the current month's days: a read plans and probes ~45 partitions, not ~373.
--
-- New rows still go to day partitions: a first collection's random index inserts stay in a
-- day's small, warm indexes (the WAL figure of 008). A month is folded once it is sealed (it
-- ended more than a day ago; late writes are queued refusals, seconds late), by the retention's
-- run, one month a run. The fold copies the month's rows into a new table in id order, builds the
-- parent's indexes on it once (faster than inserting into them), adds a BRIN index on the time
-- (a few pages; it lets the retention delete a day's rows from a month without scanning it), and
-- only then swaps the day partitions for the month partition: the parent is locked only for the
-- DROPs and the ATTACH, a few milliseconds, and the copy has no lock that a reader waits for.

-- The partition that holds a Brussels day's rows: its month's if that month is folded, else its
-- own day partition, created if missing (rows of that day waiting in the default partition move
-- into it). Returns the partition's name. Two sessions making partitions of the log at once
-- deadlock (each locks the parent and the default partition): a caller waits for the retention's
-- lock (src/operations/log-retention.ts, which the retention holds already) until its COMMIT.
CREATE OR REPLACE FUNCTION hsmp_collection_log_day(p_day date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  v_month text := 'collection_log_' || to_char(p_day, 'YYYYMM');
  v_name text := 'collection_log_' || to_char(p_day, 'YYYYMMDD');
  v_from timestamptz := p_day::timestamp AT TIME ZONE 'Europe/Brussels';
  v_to timestamptz := (p_day + 1)::timestamp AT TIME ZONE 'Europe/Brussels';
BEGIN
  IF to_regclass(v_month) IS NOT NULL THEN
    RETURN v_month;
  END IF;
  IF to_regclass(v_name) IS NOT NULL THEN
    RETURN v_name;
  END IF;
  PERFORM pg_advisory_xact_lock(1213418834);
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

-- Folds the day partitions of the month of p_month (and rows of that month waiting in the default
-- partition) into the partition collection_log_YYYYMM. Returns the rows moved; null when the month
-- is already folded. Waits at most lock_timeout for each lock, trying the swap a few times; if
-- it still cannot lock the log, it raises and the caller's transaction rolls the copy back.
CREATE FUNCTION hsmp_collection_log_fold_month(p_month date) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_first date := date_trunc('month', p_month)::date;
  v_name text := 'collection_log_' || to_char(p_month, 'YYYYMM');
  v_from timestamptz := date_trunc('month', p_month)::timestamp AT TIME ZONE 'Europe/Brussels';
  v_to timestamptz := (date_trunc('month', p_month) + interval '1 month')::timestamp AT TIME ZONE 'Europe/Brussels';
  v_days text[];
  v_day text;
  v_rows bigint;
  v_index record;
  v_attempt int := 0;
BEGIN
  IF to_regclass(v_name) IS NOT NULL THEN
    RETURN NULL;
  END IF;
  SELECT coalesce(array_agg(c.relname::text ORDER BY c.relname), '{}') INTO v_days
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
   WHERE i.inhparent = 'collection_log'::regclass AND c.relname ~ ('^collection_log_' || to_char(v_first, 'YYYYMM') || '[0-9]{2}$');
  -- No write reaches a sealed day; should a late one come, it waits for the fold.
  FOREACH v_day IN ARRAY v_days LOOP
    EXECUTE format('LOCK TABLE %I IN SHARE MODE', v_day);
  END LOOP;

  EXECUTE format('CREATE TABLE %I (LIKE collection_log INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', v_name);
  EXECUTE format('INSERT INTO %I SELECT * FROM collection_log WHERE collected_at >= %L AND collected_at < %L ORDER BY id', v_name, v_from, v_to);
  GET DIAGNOSTICS v_rows = ROW_COUNT;
  -- The parent's keys and indexes, as they are defined now (a later migration's included), so
  -- that ATTACH finds them all and builds none while it holds its lock.
  FOR v_index IN
    SELECT x.indexrelid, con.oid AS constraint_oid
      FROM pg_index x LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid AND con.conrelid = x.indrelid
     WHERE x.indrelid = 'collection_log'::regclass
  LOOP
    IF v_index.constraint_oid IS NOT NULL THEN
      EXECUTE format('ALTER TABLE %I ADD %s', v_name, pg_get_constraintdef(v_index.constraint_oid));
    ELSE
      EXECUTE regexp_replace(pg_get_indexdef(v_index.indexrelid), '^CREATE (UNIQUE )?INDEX \S+ ON ONLY \S+', 'CREATE \1INDEX ON ' || quote_ident(v_name));
    END IF;
  END LOOP;
  EXECUTE format('CREATE INDEX ON %I USING brin (collected_at)', v_name);
  -- Proves the range to ATTACH, which then scans nothing.
  EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (collected_at >= %L AND collected_at < %L)', v_name, v_name || '_range', v_from, v_to);
  -- Statistics now, not at autovacuum's next visit: the reads plan with them from the swap on.
  EXECUTE format('ANALYZE %I', v_name);

  -- The swap: dropping a partition locks the parent against every reader and writer until
  -- COMMIT, so it is tried under lock_timeout, a few times, and the caller commits at once.
  LOOP
    BEGIN
      FOREACH v_day IN ARRAY v_days LOOP
        EXECUTE format('DROP TABLE %I', v_day);
      END LOOP;
      DELETE FROM collection_log_default WHERE collected_at >= v_from AND collected_at < v_to;
      EXECUTE format('ALTER TABLE collection_log ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', v_name, v_from, v_to);
      RETURN v_rows;
    EXCEPTION WHEN lock_not_available THEN
      v_attempt := v_attempt + 1;
      IF v_attempt >= 5 THEN
        RAISE;
      END IF;
      PERFORM pg_sleep(0.2 * v_attempt);
    END;
  END LOOP;
END
$$;
