import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The console's stylesheet: one small file served from the deployment itself. Colours meet
 * WCAG AA contrast on white; the chart's series use the Okabe–Ito palette (told apart with
 * colour-vision deficiencies) and the legend names them in text as well.
 */
export const CONSOLE_CSS = `
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a1a1a;background:#fff}
a{color:#0b57a4}
a:focus,button:focus,input:focus,select:focus,main:focus{outline:3px solid #e69f00;outline-offset:2px}
.skip{position:absolute;left:-9999px}.skip:focus{left:8px;top:8px;background:#fff;padding:4px 8px;z-index:1}
.top{display:flex;flex-wrap:wrap;align-items:center;gap:8px 24px;padding:8px 16px;background:#12355b;color:#fff}
.top a{color:#fff}.brand{font-weight:700}
.top ul{display:flex;flex-wrap:wrap;gap:4px 16px;list-style:none;margin:0;padding:0}
.top a[aria-current=page]{font-weight:700;text-decoration-thickness:3px}
.sign-out{margin-left:auto;display:flex;gap:8px;align-items:center}
main{padding:8px 16px 32px;max-width:1200px}
.sign-in{max-width:420px;margin:10vh auto}
.sign-in form{display:flex;flex-direction:column;gap:8px}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:1.6em;border-bottom:1px solid #ccc}h3{font-size:1.05rem}
table{border-collapse:collapse;margin:8px 0 16px;width:100%}
caption{text-align:left;font-weight:600;padding:4px 0}
th,td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
td.num,th.num{text-align:right}
input,select,button{font:inherit;padding:3px 6px}
button{background:#12355b;color:#fff;border:1px solid #12355b;border-radius:3px;cursor:pointer}
button.danger{background:#a3191e;border-color:#a3191e}
form.inline{display:flex;flex-wrap:wrap;gap:4px;align-items:center}
form.stacked p{margin:6px 0}
label{margin-right:4px}
.flash{padding:8px 12px;border-radius:3px}.flash.ok{background:#e3f4e8;border:1px solid #2e7d4f}.flash.error{background:#fdecea;border:1px solid #a3191e}
.good{color:#1d6b3c}.bad{color:#a3191e}
.hint{color:#555}
meter{width:120px}
.chart svg{width:100%;height:auto;max-height:260px}
.chart .axis{font-size:11px;fill:#333}.chart .axis-line{stroke:#333}.chart .grid{stroke:#bbb;stroke-dasharray:2 2}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;list-style:none;padding:0;margin:4px 0}
.swatch{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}
.s-ok{fill:#009e73;background:#009e73}.s-e001{fill:#56b4e9;background:#56b4e9}.s-e012{fill:#0072b2;background:#0072b2}
.s-e013{fill:#cc79a7;background:#cc79a7}.s-blocked{fill:#d55e00;background:#d55e00}.s-unavailable{fill:#000;background:#000}
.s-other{fill:#999;background:#999}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px}dl.facts dt{font-weight:600}dl.facts dd{margin:0}
progress{width:320px}
.pager{display:flex;gap:16px}
`;

export const CONSOLE_ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#12355b"/><path d="M4 4h2v3h4V4h2v8h-2V9H6v3H4z" fill="#fff"/></svg>`;

/** The progressive-enhancement script, compiled by tsc from browser/console.ts beside this file. */
export function loadConsoleScript(): Buffer {
  return readFileSync(path.join(__dirname, 'browser', 'console.js'));
}
