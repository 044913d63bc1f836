export { SmlClient, SmlFault, SmlUnavailable, type SmlEndpoint } from './client';
export { KeyPreparer, SmlHealth, classifySmlError } from './preparer';
export { PreparedKeys, type BulkPrepareProgress } from './prepared-keys';
export { Reconciler, ReconcileBusy, ReconcileRefused, type ReconcileSummary } from './reconciler';
