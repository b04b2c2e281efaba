import { APP_MANIFEST } from './app-manifest.js';

/**
 * The screens of the sandbox's app install flow, in the order Stripe shows
 * them (and Defrr's help page describes them): the app's page (with the
 * "test version" notice for a test-mode link) → Select an account → what the
 * app can access → Installation successful, which sends the browser back to
 * the app's redirect URI. Every step is a POST form; the server checks each one.
 */

const esc = (value: string) =>
  value.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

const STYLE = `*{box-sizing:border-box}[hidden]{display:none!important}
body{font-family:system-ui,-apple-system,sans-serif;background:#f6f9fc;margin:0;color:#1a1f36}
.banner{background:#ffde92;color:#5d3a00;padding:10px 16px;font-size:14px;text-align:center}
.top{display:flex;align-items:center;gap:8px;padding:14px 24px;border-bottom:1px solid #e3e8ee;background:#fff;flex-wrap:wrap}
.logo{font-weight:700;color:#635bff;font-size:20px;letter-spacing:-.5px}.pill{background:#ffde92;color:#5d3a00;border-radius:999px;padding:2px 10px;font-size:12px;font-weight:600}
main{max-width:560px;margin:32px auto;background:#fff;border-radius:8px;box-shadow:0 2px 8px rgba(0,0,0,.08);padding:32px;overflow-wrap:anywhere}
h1{font-size:22px;margin:0 0 8px}.muted{color:#697386;font-size:14px}.step{color:#697386;font-size:13px;margin:0 0 16px}
.app{display:flex;gap:16px;align-items:center;margin-bottom:16px}.app-icon{width:56px;height:56px;border-radius:12px;background:#1d2330;color:#fff;display:flex;align-items:center;justify-content:center;font-weight:700;font-size:24px;flex:none}
fieldset{border:0;margin:16px 0;padding:0}legend{font-weight:600;margin-bottom:8px}
label.account{display:flex;gap:12px;align-items:center;border:1px solid #e3e8ee;border-radius:6px;padding:12px;margin:8px 0;cursor:pointer}
label.account:has(input:checked){border-color:#635bff;box-shadow:0 0 0 1px #635bff}
ul.permissions{list-style:none;padding:0;margin:16px 0;border:1px solid #e3e8ee;border-radius:6px}
ul.permissions li{display:flex;justify-content:space-between;align-items:center;gap:12px;padding:10px 12px;border-top:1px solid #e3e8ee;font-size:14px}
ul.permissions li:first-child{border-top:0}.permission-id{display:block;color:#697386;font-size:12px}
.read-only{flex:none;background:#e3e8ee;color:#3c4257;border-radius:4px;padding:2px 8px;font-size:12px;font-weight:600}
.actions{display:flex;flex-direction:row-reverse;flex-wrap:wrap;gap:12px;margin-top:28px}.actions .cancel{margin-right:auto}
button,.button{font:inherit;font-size:15px;padding:10px 18px;border-radius:6px;border:1px solid #c1c9d2;background:#fff;color:#1a1f36;cursor:pointer;text-decoration:none;display:inline-block}
button.primary,.button.primary{background:#635bff;color:#fff;border-color:#635bff}
.success{width:56px;height:56px;border-radius:50%;background:#d7f5e3;color:#0b6b34;display:flex;align-items:center;justify-content:center;font-size:30px;margin-bottom:16px}
.error{color:#c0123c}`;

export interface FlowPage {
  appName: string;
  testMode: boolean;
  /** Where each step's form posts (the authorize path of the link the user opened). */
  action: string;
  /** client_id, redirect_uri and state, carried from step to step. */
  hidden: Record<string, string>;
}

export interface SandboxAccount {
  id: string;
  name: string;
}

function layout(p: { title: string; testMode: boolean; banner?: string; head?: string; body: string }) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">${p.head ?? ''}
<title>${esc(p.title)} — Stripe (sandbox)</title><style>${STYLE}</style></head><body>
${p.banner ?? ''}<div class="top"><span class="logo">stripe</span><span class="muted">App Marketplace · offline sandbox</span>${p.testMode ? '<span class="pill">Test mode</span>' : ''}</div>
<main>${p.body}</main></body></html>`;
}

function form(p: FlowPage, step: string, fields: Record<string, string>, content: string, actions: string) {
  const hidden = Object.entries({ ...p.hidden, step, ...fields })
    .map(([name, value]) => `<input type="hidden" name="${esc(name)}" value="${esc(value)}">`)
    .join('');
  return `<form method="post" action="${esc(p.action)}">${hidden}${content}<div class="actions">${actions}</div></form>`;
}

/** The actions row: the first button is the primary one, at the bottom right (and the form's default). */
const button = (label: string, action: string, primary = false) =>
  `<button type="submit" name="action" value="${action}"${primary ? ' class="primary"' : action === 'cancel' ? ' class="cancel"' : ''}>${esc(label)}</button>`;

/** Step 1: the app's page, with Stripe's notice for a test version installed from a direct link. */
export function appPage(p: FlowPage): string {
  const banner = p.testMode
    ? '<div class="banner" role="status">You are installing a test version of this app. It is an unreviewed app installed through a direct link, not from the Stripe App Marketplace.</div>'
    : '';
  return layout({
    title: `Install ${p.appName}`,
    testMode: p.testMode,
    banner,
    body: form(
      p,
      'app',
      {},
      `<div class="app"><div class="app-icon" aria-hidden="true">${esc(p.appName.slice(0, 1))}</div>
<div><h1>${esc(p.appName)}</h1><p class="muted" style="margin:0">${p.testMode ? 'Test version · unreviewed app' : 'Stripe App'}</p></div></div>
<p>${esc(p.appName)} brings your Stripe transactions into ${esc(p.appName)}: balance transactions, charges, refunds, invoices, credit notes, disputes, customers, products, prices, coupons, payouts and subscriptions.</p>
<p class="muted">Continue to choose the account to install ${esc(p.appName)} on.</p>`,
      button('Continue', 'continue', true) + button('Cancel', 'cancel'),
    ),
  });
}

/** Step 2: Select an account. */
export function accountPage(
  p: FlowPage & { accounts: SandboxAccount[]; selected?: string | undefined; error?: string },
): string {
  const selected = p.accounts.some((a) => a.id === p.selected) ? p.selected : p.accounts[0]?.id;
  const accounts = p.accounts
    .map(
      (a) =>
        `<label class="account"><input type="radio" name="account" value="${esc(a.id)}"${a.id === selected ? ' checked' : ''}><span><strong>${esc(a.name)}</strong> <span class="muted">${esc(a.id)}</span></span></label>`,
    )
    .join('');
  return layout({
    title: 'Select an account',
    testMode: p.testMode,
    body: form(
      p,
      'account',
      {},
      `<h1>Select an account</h1><p class="muted">Choose the Stripe account to install ${esc(p.appName)} on.</p>
${p.error ? `<p class="error" role="alert">${esc(p.error)}</p>` : ''}
<fieldset><legend>Your accounts</legend>${accounts}</fieldset>`,
      button('Continue', 'continue', true) + button('Back', 'back') + button('Cancel', 'cancel'),
    ),
  });
}

/**
 * Step 3: what the app can access on the chosen account, as the manifest (stripe-app.json)
 * lists it: each permission with its purpose, all of them read-only.
 */
export function permissionsPage(p: FlowPage & { account: SandboxAccount }): string {
  const permissions = APP_MANIFEST.permissions
    .map(
      ({ permission, purpose }) =>
        `<li data-permission="${esc(permission)}"><span>${esc(purpose)}<span class="permission-id">${esc(permission)}</span></span><span class="read-only">Read-only</span></li>`,
    )
    .join('');
  return layout({
    title: `What ${p.appName} can access`,
    testMode: p.testMode,
    body: form(
      p,
      'permissions',
      { account: p.account.id },
      `<h1>What ${esc(p.appName)} can access</h1>
<p class="muted">On ${esc(p.account.name)} (${esc(p.account.id)}), ${esc(p.appName)} will be able to read the following. It cannot change anything.</p>
<ul class="permissions">${permissions}</ul>
<p class="muted">You can uninstall the app at any time from Settings → Installed apps.</p>`,
      button('Install app', 'install', true) + button('Back', 'back') + button('Cancel', 'cancel'),
    ),
  });
}

/** Step 4: Stripe confirms the install, then sends the browser back to the app after about a second. */
export function installedPage(p: {
  appName: string;
  testMode: boolean;
  account: SandboxAccount;
  redirectTo: string;
}): string {
  const to = esc(p.redirectTo);
  return layout({
    title: 'Installation successful',
    testMode: p.testMode,
    head: `<meta http-equiv="refresh" content="1;url=${to}">`,
    body: `<div class="success" aria-hidden="true">✓</div><h1>Installation successful</h1>
<p>${esc(p.appName)} was installed on ${esc(p.account.name)} <span class="muted">(${esc(p.account.id)})</span>.</p>
<p class="muted" role="status">Taking you back to ${esc(p.appName)}…</p>
<div class="actions"><a class="button primary" id="continue" href="${to}">Continue to ${esc(p.appName)}</a></div>`,
  });
}

export function errorPage(title: string, message: string): string {
  return layout({
    title,
    testMode: false,
    body: `<h1 class="error">${esc(title)}</h1><p>${esc(message)}</p>`,
  });
}
