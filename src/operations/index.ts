export { audited, recordAudit, type AuditEntry } from './audit';
export { BadRequest, Conflict, NotFound, ReadTooBroad } from './errors';
export { LogRetention, type RetentionRun } from './log-retention';
export { INPUTS, parseEnterpriseNumber, parseInput, type Inputs } from './inputs';
export { OperatorService, type OperatorServiceOptions } from './operator-service';
export { ADMIN_PREFIX, ROUTES, mountPath, pathOf, type Route } from './routes';
