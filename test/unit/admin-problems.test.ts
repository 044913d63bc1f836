import { readFileSync } from 'node:fs';
import { OPENAPI_DOCUMENT } from '../../src/admin/admin-app';
import { ADMIN_PROBLEMS, type AdminProblemCode } from '../../src/domain/errors';

/** Like the public codes: the admin problem catalogue and the OpenAPI document say the same. */
const doc = JSON.parse(readFileSync(OPENAPI_DOCUMENT, 'utf8'));

/** Every problem example the document gives, with the status of the response it belongs to. */
function documentedProblems(): Array<{ where: string; status: number; code: string }> {
  const found = [];
  for (const [path, operations] of Object.entries<any>(doc.paths)) {
    for (const [method, operation] of Object.entries<any>(operations)) {
      for (const [status, response] of Object.entries<any>(operation.responses ?? {})) {
        const problem = response.content?.['application/problem+json'];
        if (problem?.schema?.$ref === '#/components/schemas/AdminProblem')
          found.push({ where: `${method} ${path} ${status}`, status: Number(status), code: problem.example?.code });
      }
    }
  }
  return found;
}

describe('admin problem catalogue', () => {
  it('lists exactly the codes of the OpenAPI document', () => {
    expect([...doc.components.schemas.AdminProblemCode.enum].sort()).toEqual(Object.keys(ADMIN_PROBLEMS).sort());
    expect(doc.components.schemas.AdminProblem.properties.code).toEqual({ $ref: '#/components/schemas/AdminProblemCode' });
    expect(doc.components.schemas.JobProblem.properties.code).toEqual({ $ref: '#/components/schemas/AdminProblemCode' });
  });

  it('gives each documented problem the status of its response', () => {
    const documented = documentedProblems();
    expect(documented.length).toBeGreaterThan(20);
    for (const { where, status, code } of documented) {
      expect({ where, code, status: ADMIN_PROBLEMS[code as AdminProblemCode]?.status }).toEqual({ where, code, status });
    }
  });
});
