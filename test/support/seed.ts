import { datasetNumbers, type Dataset } from '../../src/participants/datasets';
import type { TestService } from './service';

/** Seeds datasets through the admin API, as an operator would, and returns dataset 1. */
export async function seed(service: TestService, datasets = 1): Promise<Dataset> {
  const response = await service.admin('POST', '/admin/seed', { datasets, reason: 'test' });
  if (response.status !== 200) throw new Error(`seed failed: ${response.status} ${response.body}`);
  return datasetNumbers(1);
}
