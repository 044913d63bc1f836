import escapeHtml from 'escape-html';

/**
 * HTML built by tagged templates: every interpolated value is escaped unless it is itself Html
 * (built the same way), so a page cannot carry markup that came from data. Arrays are joined.
 */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export type Interpolation = Html | string | number | boolean | null | undefined | readonly Interpolation[];

export function html(strings: TemplateStringsArray, ...values: Interpolation[]): Html {
  let out = strings[0];
  values.forEach((value, i) => {
    out += render(value) + strings[i + 1];
  });
  return new Html(out);
}

function render(value: Interpolation): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return (value as readonly Interpolation[]).map(render).join('');
  return escapeHtml(String(value));
}

/**
 * A data table: a caption, one header per column, one row of cells per item, and a single
 * full-width row saying `empty` when there is none (screen readers announce the caption and the
 * column headers with each cell).
 */
export function dataTable(caption: Interpolation, columns: readonly string[], rows: readonly (readonly Interpolation[])[], empty: string): Html {
  return html`<table>
    <caption>
      ${caption}
    </caption>
    <thead>
      <tr>
        ${columns.map((column) => html`<th scope="col">${column}</th>`)}
      </tr>
    </thead>
    <tbody>
      ${
        rows.length === 0
          ? html`<tr>
              <td colspan="${columns.length}">${empty}</td>
            </tr>`
          : rows.map(
              (cells) =>
                html`<tr>
                  ${cells.map((cell) => html`<td>${cell}</td>`)}
                </tr>`,
            )
      }
    </tbody>
  </table>`;
}
