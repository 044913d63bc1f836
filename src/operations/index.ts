export { BadRequest, NotFound } from './errors';
export { INPUTS, parseEnterpriseNumber, parseInput, type Inputs } from './inputs';
export { OperatorService, type OperatorServiceOptions } from './operator-service';
export { ADMIN_PREFIX, ROUTES, mountPath, pathOf, type Route } from './routes';
