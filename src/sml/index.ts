export { SmlClient, SmlFault, SmlUnavailable, type SmlEndpoint } from './client';
export { KeyPreparer, SmlHealth, classifySmlError } from './preparer';
export { PreparedKeys, type BulkPrepareProgress } from './prepared-keys';
export { ReconcileRefused, type ReconcileSummary } from './reconcile-plan';
export { SmlListingInvalid } from './listing';
export { KeyRevocations, NothingToRevoke, ParticipantNotOurs, KeyChangedDuringRevocation, type RevocationSummary } from './key-revocations';
