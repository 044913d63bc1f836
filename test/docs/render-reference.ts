import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Renders the access points' OpenAPI document (and the XML schema beside it) into one HTML page
 * that opens without network: inline style, no script, no font, image or stylesheet from
 * anywhere. `npm run docs:reference` writes docs/access-points/reference.html; a test keeps
 * the committed page equal to what this renders.
 */
const ROOT = path.resolve(__dirname, '..', '..', '..');
export const OPENAPI = path.join(ROOT, 'openapi', 'access-points.openapi.json');
export const XSD = path.join(ROOT, 'openapi', 'access-points.xsd');
export const PAGE = path.join(ROOT, 'docs', 'access-points', 'reference.html');

const STYLE = `
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b1b; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
h1, h2, h3, h4 { line-height: 1.25; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2rem; margin-top: 2.5rem; }
code, pre { font: 13px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f4f4f4; }
code { padding: 0 .2rem; } pre { padding: .6rem .8rem; overflow-x: auto; border-left: 3px solid #ccc; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; } th, td { border: 1px solid #ddd; padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #f0f0f0; } .method { font-weight: bold; text-transform: uppercase; } .status { font-weight: bold; }
nav ul { columns: 2; } a { color: #0b4f9c; }
`;

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
/** The little Markdown the document uses: `code` and paragraphs. */
const prose = (text: string | undefined) =>
  (text ?? '')
    .split(/\n\n+/)
    .map((paragraph) => `<p>${escape(paragraph).replace(/`([^`]+)`/g, '<code>$1</code>')}</p>`)
    .join('\n');
const inline = (text: string | undefined) => escape(text ?? '').replace(/`([^`]+)`/g, '<code>$1</code>');
const json = (value: unknown) => `<pre>${escape(JSON.stringify(value, null, 2))}</pre>`;
const anchor = (...parts: string[]) => parts.join('-').replace(/[^A-Za-z0-9-]+/g, '-');

function resolve(doc: any, value: any): any {
  if (value && typeof value.$ref === 'string' && value.$ref.startsWith('#/')) {
    return value.$ref
      .slice(2)
      .split('/')
      .reduce((node: any, part: string) => node[part.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
  }
  return value;
}
const refName = (value: any) => (value && typeof value.$ref === 'string' ? value.$ref.split('/').pop() : undefined);

function schemaLink(schema: any): string {
  const name = refName(schema);
  return name ? `<a href="#schema-${name}">${escape(name)}</a>` : `<code>${escape(JSON.stringify(schema))}</code>`;
}

function operation(doc: any, route: string, method: string, op: any): string {
  const parameters = (op.parameters ?? []).map((p: any) => resolve(doc, p));
  const responses = Object.entries(op.responses ?? {}).map(([status, raw]) => {
    const response = resolve(doc, raw);
    const headers = Object.keys(response.headers ?? {}).map((name) => `<a href="#header-${name}"><code>${escape(name)}</code></a>`);
    const content = Object.entries(response.content ?? {}).map(([type, media]: [string, any]) => {
      const examples = media.examples
        ? Object.entries(media.examples).map(
            ([key, example]: [string, any]) =>
              `<h5>${escape(example.summary ?? key)}</h5>${typeof example.value === 'string' ? `<pre>${escape(example.value)}</pre>` : json(example.value)}`,
          )
        : media.example === undefined
          ? []
          : [typeof media.example === 'string' ? `<pre>${escape(media.example)}</pre>` : json(media.example)];
      return `<h4><code>${escape(type)}</code>: ${schemaLink(media.schema)}</h4>\n${examples.join('\n')}`;
    });
    return `<h3 id="${anchor(method, 'response', status)}"><span class="status">${escape(status)}</span></h3>
<p>${inline(response.description)}</p>
${headers.length ? `<p>Headers: ${headers.join(', ')}</p>` : ''}
${content.join('\n')}`;
  });
  return `<h2 id="${anchor(method, route)}"><span class="method">${escape(method)}</span> <code>${escape(route)}</code></h2>
<p><strong>${inline(op.summary)}</strong></p>
${prose(op.description)}
<p>Security: ${(op.security ?? [])
    .map((s: any) =>
      Object.keys(s)
        .map((k) => `<a href="#security-${k}">${escape(k)}</a>`)
        .join(', '),
    )
    .join(' or ')}</p>
<table><tr><th>parameter</th><th>in</th><th>required</th><th>schema</th><th>description</th></tr>
${parameters.map((p: any) => `<tr><td><code>${escape(p.name)}</code></td><td>${escape(p.in)}</td><td>${p.required ? 'yes' : 'no'}</td><td><code>${escape(JSON.stringify(p.schema))}</code></td><td>${inline(p.description)}</td></tr>`).join('\n')}
</table>
${responses.join('\n')}`;
}

export function renderReference(doc: any, xsd: string): string {
  const operations = Object.entries(doc.paths).flatMap(([route, item]: [string, any]) =>
    ['get', 'head', 'post', 'put', 'delete', 'patch'].filter((m) => item[m]).map((m) => operation(doc, route, m, item[m])),
  );
  const headers = Object.entries(doc.components.headers ?? {}).map(
    ([name, header]: [string, any]) =>
      `<tr id="header-${name}"><td><code>${escape(name)}</code></td><td><code>${escape(JSON.stringify(header.schema))}</code>${header.example === undefined ? '' : `<br>e.g. <code>${escape(String(header.example))}</code>`}</td><td>${inline(header.description)}</td></tr>`,
  );
  const schemas = Object.entries(doc.components.schemas ?? {}).map(([name, schema]) => `<h3 id="schema-${name}">${escape(name)}</h3>\n${json(schema)}`);
  const security = Object.entries(doc.components.securitySchemes ?? {}).map(
    ([name, scheme]: [string, any]) => `<h3 id="security-${name}">${escape(name)} (${escape(scheme.type)})</h3>\n<p>${inline(scheme.description)}</p>`,
  );
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(doc.info.title)} ${escape(doc.info.version)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escape(doc.info.title)}</h1>
<p>Version ${escape(doc.info.version)} · OpenAPI ${escape(doc.openapi)} · ${escape(doc.info.license?.name ?? '')} · generated from <code>openapi/access-points.openapi.json</code>; the prose guide is <a href="README.md">README.md</a>.</p>
${prose(doc.info.description)}
<p>Servers: ${(doc.servers ?? []).map((s: any) => `<code>${escape(s.url)}</code> (${inline(s.description)})`).join(', ')}</p>
<nav><ul>
${Object.entries(doc.paths)
  .flatMap(([route, item]: [string, any]) =>
    Object.keys(item).map((m) => `<li><a href="#${anchor(m, route)}">${escape(m.toUpperCase())} ${escape(route)}</a></li>`),
  )
  .join('\n')}
<li><a href="#headers">Response headers</a></li><li><a href="#schemas">Schemas</a></li><li><a href="#xsd">XML schema</a></li><li><a href="#security">Security</a></li>
</ul></nav>
${operations.join('\n')}
<h2 id="headers">Response headers</h2>
<table><tr><th>header</th><th>schema</th><th>description</th></tr>
${headers.join('\n')}
</table>
<h2 id="schemas">Schemas</h2>
${schemas.join('\n')}
<h2 id="xsd">XML schema (<code>openapi/access-points.xsd</code>)</h2>
<pre>${escape(xsd)}</pre>
<h2 id="security">Security</h2>
${security.join('\n')}
</body>
</html>
`;
}

if (require.main === module) {
  writeFileSync(PAGE, renderReference(JSON.parse(readFileSync(OPENAPI, 'utf8')), readFileSync(XSD, 'utf8')));
  console.log(`wrote ${path.relative(process.cwd(), PAGE)}`);
}
