-- SPEC §4: a `day` read of a folded month (migrations/012) found the day's ~82 000 rows through
-- the month's BRIN index and sorted them by id for every page (p99 66-84 ms at 30 million rows,
-- 12 ms on a day partition). The fold now records each day's id bounds, so a page of a day is a
-- range of the month's primary key again.
--
-- The bounds are taken after the fold has locked the month's days against writes, from the rows it
-- copied. A row of the month written after the fold (none is expected: the month ended more than a
-- day before) has an id above month_max_id, and a day read looks there too: the bounds are never
-- the only way to a row. Rows the retention deletes leave the bounds wider than the rows, which a
-- read does not mind; the retention deletes the bounds of the days it removes.
CREATE TABLE collection_log_sealed_day (
  day          date PRIMARY KEY,
  min_id       bigint,           -- null: the day had no rows when its month was folded
  max_id       bigint,
  month_max_id bigint NOT NULL   -- the month's highest id at its fold (0 for an empty month)
);

-- As in 012, and the bounds of each day of the month recorded before the swap.
CREATE OR REPLACE FUNCTION hsmp_collection_log_fold_month(p_month date) RETURNS bigint
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
  EXECUTE format(
    $sql$INSERT INTO collection_log_sealed_day (day, min_id, max_id, month_max_id)
         SELECT d::date, b.min_id, b.max_id, (SELECT coalesce(max(id), 0) FROM %1$I)
           FROM generate_series(%2$L::date, (%2$L::date + interval '1 month' - interval '1 day')::date, interval '1 day') d
           LEFT JOIN (SELECT (collected_at AT TIME ZONE 'Europe/Brussels')::date AS day, min(id) AS min_id, max(id) AS max_id
                        FROM %1$I GROUP BY 1) b ON b.day = d::date
         ON CONFLICT (day) DO UPDATE SET min_id = EXCLUDED.min_id, max_id = EXCLUDED.max_id, month_max_id = EXCLUDED.month_max_id$sql$,
    v_name, v_first);
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

-- Months folded before this migration: their days' bounds from their rows (none at a first
-- deployment; a database that ran 012 folds at most a month an hour, so a few).
INSERT INTO collection_log_sealed_day (day, min_id, max_id, month_max_id)
SELECT d::date, b.min_id, b.max_id, coalesce(m.max_id, 0)
  FROM (SELECT c.relname::text AS partition, to_date(substr(c.relname, 16), 'YYYYMM') AS first
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'collection_log'::regclass AND c.relname ~ '^collection_log_[0-9]{6}$') p
 CROSS JOIN LATERAL (SELECT max(id) AS max_id FROM collection_log
                      WHERE collected_at >= p.first::timestamp AT TIME ZONE 'Europe/Brussels'
                        AND collected_at < (p.first + interval '1 month')::timestamp AT TIME ZONE 'Europe/Brussels') m
 CROSS JOIN LATERAL generate_series(p.first, (p.first + interval '1 month' - interval '1 day')::date, interval '1 day') d
  LEFT JOIN LATERAL (SELECT min(id) AS min_id, max(id) AS max_id FROM collection_log
                      WHERE collected_at >= d::date::timestamp AT TIME ZONE 'Europe/Brussels'
                        AND collected_at < (d::date + 1)::timestamp AT TIME ZONE 'Europe/Brussels') b ON true;
