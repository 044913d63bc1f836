import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createLogger } from '../../src/log';
import { openDatabase } from '../../src/store/database';
import { migrate } from '../../src/store/migrate';
import { freshDatabase } from '../support/throwaway-database';

/**
 * The migration runner, on the run's database (PostgreSQL with DATABASE_URL, else PGlite): a
 * migration may take longer than the pool's 5 s statement bound (converting a production-size
 * table does), and one that fails leaves nothing behind.
 */
describe('migrations', () => {
  it('applies a migration longer than the pool statement bound, and rolls a failing one back whole', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hsmp-migrations-'));
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'hsmp-migration-db-'));
    const created = process.env.DATABASE_URL ? await freshDatabase(process.env.DATABASE_URL, `hsmp_test_${randomBytes(6).toString('hex')}`) : undefined;
    const database = await openDatabase({ databaseUrl: created?.url, dataDir, logger: createLogger('silent') });
    try {
      writeFileSync(path.join(dir, '001_slow.sql'), 'SELECT pg_sleep(6); CREATE TABLE slow_done (x int);');
      expect(await migrate(database, dir)).toEqual(['001_slow.sql']);
      writeFileSync(path.join(dir, '002_broken.sql'), 'CREATE TABLE half_done (x int); SELECT no_such_function();');
      await expect(migrate(database, dir)).rejects.toThrow(/migration 002_broken.sql failed: .*no_such_function/);
      const tables = await database.pool.query<{ t: string }>(`SELECT tablename AS t FROM pg_tables WHERE tablename IN ('slow_done', 'half_done') ORDER BY 1`);
      expect(tables.rows).toEqual([{ t: 'slow_done' }]);
      // The pool still answers after the failure.
      expect((await database.pool.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await database.close();
      await created?.drop();
      rmSync(dir, { recursive: true, force: true });
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 30_000);
});
