import { collectionsChart, seriesOf } from '../../src/console/chart';
import { csvLine } from '../../src/console/csv';
import { html } from '../../src/console/html';

describe('console markup', () => {
  it('writes CSV lines by RFC 4180, defusing what a spreadsheet would run as a formula', () => {
    expect(csvLine([1, 'plain', null, undefined, new Date('2026-12-01T10:00:00Z'), { a: 1 }])).toBe('1,plain,,,2026-12-01T10:00:00.000Z,"{""a"":1}"\r\n');
    expect(csvLine(['a,b', 'say "hi"', 'two\nlines'])).toBe('"a,b","say ""hi""","two\nlines"\r\n');
    expect(csvLine(['=HYPERLINK("x")', '+1', '-2', '@SUM(A1)', 'ok=1'])).toBe(`"'=HYPERLINK(""x"")",'+1,'-2,'@SUM(A1),ok=1\r\n`);
  });

  it('escapes every interpolated value unless it is markup built the same way', () => {
    const hostile = `<script>alert("x")</script>' onload='x`;
    expect(html`<td title="${hostile}">${hostile}</td>`.text).toBe(
      '<td title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onload=&#39;x">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onload=&#39;x</td>',
    );
    expect(
      html`<ul>
        ${['a<', 'b'].map((x) => html`<li>${x}</li>`)}
      </ul>`.text.replace(/>\s+</g, '><'),
    ).toBe('<ul><li>a&lt;</li><li>b</li></ul>');
    expect(html`${null}${undefined}${false}${0}`.text).toBe('0');
  });

  it('draws collections per hour as stacked bars, one series per outcome group, totals in the description', () => {
    const since = new Date('2026-11-24T15:00:00Z');
    const until = new Date('2026-12-01T15:00:00Z');
    const svg = collectionsChart(
      [
        { hour: new Date('2026-11-30T10:00:00Z'), outcome: '200', count: 30 },
        { hour: new Date('2026-11-30T10:00:00Z'), outcome: 'HSMP-811', count: 10 },
        { hour: new Date('2026-11-30T11:00:00Z'), outcome: 'HSMP-813', count: 5 },
        { hour: new Date('2026-11-20T11:00:00Z'), outcome: '200', count: 999 }, // before the window: not drawn
      ],
      since,
      until,
    ).text;
    expect(svg).toContain('45 collections in all: 200 key handed out 30');
    expect(svg).toContain('811/812/813 limits 15');
    expect(svg).toContain('Highest hour: 40.');
    expect(svg.match(/<rect class="s-ok"/g)).toHaveLength(1);
    expect(svg.match(/<rect class="s-blocked"/g)).toHaveLength(2);
    expect(svg).not.toContain('style=');
    expect([seriesOf('HSMP-999'), seriesOf('HSMP-805'), seriesOf('SML-PENDING'), seriesOf('HSMP-013')]).toEqual(['unavailable', 'other', 'other', 'e013']);
  });
});
