import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { validateXML } from 'xmllint-wasm';
import { HSMP_ERRORS } from '../../src/domain/errors';
import { OPENAPI, PAGE, renderReference, XSD } from '../docs/render-reference';

/** The access points' OpenAPI document, its XML schema, and the reference page rendered from them. */
const doc = JSON.parse(readFileSync(OPENAPI, 'utf8'));
const xsd = readFileSync(XSD, 'utf8');
const route = doc.paths['/hermes-rw/migrationKey/{participantId}'];
const examplesOf = (contentType: string) =>
  Object.entries(route.get.responses).flatMap(([status, response]: [string, any]) => {
    const media = response.content?.[contentType];
    if (!media) return [];
    const values = media.examples ? Object.values(media.examples).map((e: any) => e.value) : [media.example];
    return values.map((value) => ({ status: Number(status), value }));
  });

describe('the access points OpenAPI document', () => {
  it('gives every code of the error catalogue an example under its status, in XML and in JSON', () => {
    for (const [code, { status }] of Object.entries(HSMP_ERRORS)) {
      for (const contentType of ['application/xml', 'application/problem+json']) {
        const examples = examplesOf(contentType).filter((e) =>
          typeof e.value === 'string' ? e.value.includes(`<Code>${code}</Code>`) : e.value.code === code,
        );
        expect({ code, contentType, statuses: examples.map((e) => e.status) }).toEqual({ code, contentType, statuses: expect.arrayContaining([status]) });
      }
    }
    // A dependency that is down: 503 HSMP-999 with Retry-After.
    expect(route.get.responses['503'].headers['Retry-After']).toBeDefined();
  });

  it('announces both RateLimit generations on every answer once the certificate is accepted, and none on a 401', () => {
    for (const [status, response] of Object.entries<any>(route.get.responses)) {
      const names = Object.keys(response.headers);
      expect({ status, names }).toEqual({ status, names: expect.arrayContaining(['X-Request-Id', 'Cache-Control']) });
      const quota = ['RateLimit-Policy', 'RateLimit', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'];
      if (status === '401') expect(names.filter((n) => quota.includes(n))).toEqual([]);
      else expect({ status, names }).toEqual({ status, names: expect.arrayContaining(quota) });
    }
    expect(doc.components.headers['RateLimit-Policy'].example).toMatch(new RegExp(doc.components.headers['RateLimit-Policy'].schema.pattern));
    expect(doc.components.headers.RateLimit.example).toMatch(new RegExp(doc.components.headers.RateLimit.schema.pattern));
  });

  it('its XML examples are valid against the XML schema, and a wrong body is not', async () => {
    const xml = examplesOf('application/xml');
    expect(xml.length).toBeGreaterThan(15);
    const result = await validateXML({ xml: xml.map((e, i) => ({ fileName: `example-${i}.xml`, contents: e.value as string })), schema: [xsd] });
    expect(result.errors).toEqual([]);
    const wrong = await validateXML({
      xml: [
        {
          fileName: 'wrong.xml',
          contents: '<MigrationRecord><ServiceMetadataPublisherID>X</ServiceMetadataPublisherID><MigrationKey>short</MigrationKey></MigrationRecord>',
        },
      ],
      schema: [xsd],
    });
    expect(wrong.valid).toBe(false);
  });

  it('its JSON examples are valid against its schemas', () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addSchema({ ...doc, $id: 'access-points' });
    for (const [contentType, schema] of [
      ['application/json', 'MigrationRecord'],
      ['application/problem+json', 'Problem'],
    ]) {
      const validate = ajv.compile({ $ref: `access-points#/components/schemas/${schema}` });
      for (const { status, value } of examplesOf(contentType))
        expect({ status, value, valid: validate(value), errors: validate.errors }).toMatchObject({ valid: true });
    }
  });
});

describe('the reference page', () => {
  const page = readFileSync(PAGE, 'utf8');

  it('is what the document renders today (npm run docs:reference)', () => {
    expect(page).toBe(renderReference(doc, xsd));
  });

  it('loads nothing from anywhere: no script, stylesheet, font, image or frame, no URL in its style', () => {
    expect(page).not.toMatch(/<(script|link|img|iframe|object|embed|source|video|audio)\b/i);
    expect(page).not.toMatch(/\b(src|srcset|data)\s*=/i);
    expect(page).not.toMatch(/url\(|@import/i);
    const hrefs = [...page.matchAll(/href="([^"]*)"/g)].map((m) => m[1]);
    expect(hrefs.filter((href) => !href.startsWith('#') && href !== 'README.md')).toEqual([]);
  });

  it('documents every error code, every header and the XML schema', () => {
    for (const code of Object.keys(HSMP_ERRORS)) expect(page).toContain(code);
    for (const header of Object.keys(doc.components.headers)) expect(page).toContain(`id="header-${header}"`);
    expect(page).toContain(path.basename(XSD));
    expect(page).toContain('&lt;xs:element name=&quot;MigrationRecord&quot;&gt;');
  });
});
