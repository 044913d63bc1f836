import { withCheckDigits } from './participant-id';

/**
 * Test datasets like BOSA's (SPEC §5). Pure and deterministic: dataset d always holds the same
 * numbers, so seeding twice changes nothing. Numbers are 19ddd t ii + check digits, far above
 * the enterprise numbers the CBE has handed out.
 *   type 1  registered in hsmp, not in SMK  → 200
 *   type 2  flagged migrated                → HSMP-013
 *   type 3  flagged deleted                 → HSMP-012
 *   type 4  invalid (wrong check digits)    → HSMP-001
 *   type 5  registered in hsmp and in SMK   → 200
 */
export const DATASET_TYPES = [1, 2, 3, 4, 5] as const;
export type DatasetType = (typeof DATASET_TYPES)[number];
/** What each type is seeded as; `migrated` means migrated in every environment served (SPEC §9). */
export const SEEDED_AS: Record<DatasetType, 'active' | 'migrated' | 'inactive' | null> = {
  1: 'active',
  2: 'migrated',
  3: 'inactive',
  4: null,
  5: 'active',
};
export const MAX_DATASETS = 999;
export const PER_TYPE = 10;

export type Dataset = Record<DatasetType, string[]>;

export function datasetNumbers(dataset: number, perType = PER_TYPE): Dataset {
  if (!Number.isInteger(dataset) || dataset < 1 || dataset > MAX_DATASETS) throw new RangeError(`dataset must be 1..${MAX_DATASETS}`);
  const numbers = {} as Dataset;
  for (const type of DATASET_TYPES) {
    numbers[type] = [];
    for (let i = 0; i < perType; i++) {
      const valid = withCheckDigits(`19${String(dataset).padStart(3, '0')}${type}${String(i).padStart(2, '0')}`);
      numbers[type].push(type === 4 ? breakCheckDigits(valid) : valid);
    }
  }
  return numbers;
}

function breakCheckDigits(valid: string): string {
  const wrong = (Number(valid.slice(8)) % 97) + 1;
  return valid.slice(0, 8) + String(wrong).padStart(2, '0');
}
