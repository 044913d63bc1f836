export { SmlClient, SmlFault, SmlUnavailable, type SmlEndpoint } from './client';
export { startDevSml, type DevSml, type DevSmlFault } from './dev-sml';
export { KeyPreparer, SmlHealth, classifySmlError } from './preparer';
export { PreparedKeys, type BulkPrepareProgress } from './prepared-keys';
export { Reconciler, ReconcileBusy, ReconcileRefused, lastReconciliations, type ReconcileSummary } from './reconciler';
