import { PERMISSIONS } from './sandbox.js';

const esc = (value: string) =>
  value.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

const STYLE = `body{font-family:system-ui,-apple-system,sans-serif;background:#f6f9fc;margin:0;color:#1a1f36}
.banner{background:#ffde92;color:#5d3a00;padding:8px 16px;font-size:14px;text-align:center}
main{max-width:520px;margin:40px auto;background:#fff;border-radius:8px;box-shadow:0 2px 8px rgba(0,0,0,.08);padding:32px}
h1{font-size:22px;margin:0 0 4px}.muted{color:#697386;font-size:14px}
fieldset{border:1px solid #e3e8ee;border-radius:6px;margin:16px 0;padding:12px}label{display:block;padding:4px 0}
ul{padding-left:20px}li{margin:4px 0;font-size:14px}
.actions{display:flex;gap:12px;margin-top:24px}button{font-size:15px;padding:10px 18px;border-radius:6px;border:1px solid #c1c9d2;background:#fff;cursor:pointer}
button.primary{background:#635bff;color:#fff;border-color:#635bff}.error{color:#c0123c}`;

export function installPage(p: {
  appName: string;
  testMode: boolean;
  accounts: Array<{ id: string; name: string }>;
  action: string;
  hidden: Record<string, string>;
}): string {
  const hidden = Object.entries(p.hidden)
    .map(([name, value]) => `<input type="hidden" name="${esc(name)}" value="${esc(value)}">`)
    .join('');
  const accounts = p.accounts
    .map(
      (a, i) =>
        `<label><input type="radio" name="account" value="${esc(a.id)}"${i === 0 ? ' checked' : ''}> ${esc(a.name)} <span class="muted">(${esc(a.id)})</span></label>`,
    )
    .join('');
  const permissions = PERMISSIONS.map(
    ([id, text]) => `<li>${esc(text)} <span class="muted">(${id})</span></li>`,
  ).join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Install ${esc(p.appName)} — Stripe (sandbox)</title><style>${STYLE}</style></head><body>
${p.testMode ? '<div class="banner" role="status">You are installing a test version of this app. It is not published on the Stripe App Marketplace.</div>' : ''}
<main><h1>Install ${esc(p.appName)}</h1><p class="muted">Offline Stripe sandbox · ${p.testMode ? 'test mode' : 'live mode'}</p>
<form method="post" action="${esc(p.action)}">${hidden}
<fieldset><legend>Choose an account</legend>${accounts}</fieldset>
<h2 style="font-size:16px">${esc(p.appName)} will be able to read</h2><ul>${permissions}</ul>
<p class="muted">Read-only access. You can uninstall the app at any time from Settings → Installed apps.</p>
<div class="actions"><button class="primary" type="submit" name="decision" value="install">Install app</button>
<button type="submit" name="decision" value="cancel">Cancel</button></div></form></main></body></html>`;
}

export function errorPage(title: string, message: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>${STYLE}</style></head><body><main><h1 class="error">${esc(title)}</h1><p>${esc(message)}</p></main></body></html>`;
}
