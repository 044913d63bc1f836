export { JOB_KINDS, type JobKind, type JobProblem, type JobState, type JobView } from './job-repository';
export { JobBusy, Jobs, JobStopped, type JobContext, type JobRequest } from './jobs';
export { JobOperations, type ImportProgress, type JobOperationsOptions, type PrepareProgress } from './job-operations';
export { Reconciliation, type ReconcilePreview, type ReconcileProgress, type ReconciliationOptions } from './reconciliation';
