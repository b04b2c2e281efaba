/**
 * The stand-in for Defrr's Integrations → Stripe screen. It uses only the
 * public API, with a dev token the local stack signs for the page's org.
 */
export function integrationPage(p: { token: string; orgId: string }): string {
  const config = JSON.stringify({ token: p.token, orgId: p.orgId }).replace(/</g, '\\u003c');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Integrations · Stripe — Defrr (local)</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,-apple-system,sans-serif;background:#f5f6f8;color:#1d2330;margin:0}
header{background:#1d2330;color:#fff;padding:14px 24px;font-weight:600}
main{max-width:720px;margin:32px auto;padding:0 16px}
.card{background:#fff;border-radius:10px;box-shadow:0 1px 4px rgba(0,0,0,.08);padding:24px;margin-bottom:16px}
h1{font-size:22px;margin:0 0 16px}.row{display:flex;gap:12px;align-items:center;flex-wrap:wrap}
.badge{display:inline-block;border-radius:999px;padding:4px 12px;font-size:14px;font-weight:600;background:#e6e9ef}
.badge.connected{background:#d7f5e3;color:#0b6b34}.badge.revoked,.badge.needs_reauth{background:#fde2e1;color:#9b1c1c}
button{font-size:15px;padding:9px 16px;border-radius:6px;border:1px solid #c4cad4;background:#fff;cursor:pointer}
button.primary{background:#635bff;border-color:#635bff;color:#fff}button:disabled{opacity:.5;cursor:default}
.notice{padding:12px 16px;border-radius:8px;margin-bottom:16px}.notice.ok{background:#d7f5e3}.notice.error{background:#fde2e1}
dl{display:grid;grid-template-columns:160px 1fr;gap:6px 12px;margin:16px 0 0}dt{color:#5b6474}dd{margin:0}
table{border-collapse:collapse;margin-top:8px}td,th{padding:4px 12px 4px 0;text-align:left;font-size:14px}
</style></head><body><header>Defrr · Integrations</header><main>
<div id="notice" role="status" hidden></div>
<div class="card"><h1>Stripe</h1>
<div class="row"><span>Status:</span> <span id="status" class="badge">Loading…</span></div>
<dl id="details" hidden>
<dt>Account</dt><dd id="account"></dd><dt>Mode</dt><dd id="mode"></dd><dt>Connected</dt><dd id="connected-at"></dd>
<dt>Sync</dt><dd id="sync-state"></dd><dt>Last sync</dt><dd id="last-sync"></dd><dt>Last error</dt><dd id="last-error"></dd>
</dl>
<table id="counts" hidden><thead><tr><th>Resource</th><th>Records</th></tr></thead><tbody></tbody></table>
<div class="row" style="margin-top:20px">
<label>Mode <select id="connect-mode"><option value="test">test</option><option value="live">live</option></select></label>
<button id="connect" class="primary">Connect Stripe</button>
<button id="sync-now" hidden>Sync now</button>
<button id="disconnect" hidden>Disconnect</button></div></div>
<p style="color:#5b6474;font-size:13px">Local stack · org <code id="org"></code></p>
</main>
<script>
const CONFIG = ${config};
const LABELS = { connected: 'Connected', not_connected: 'Not connected', needs_reauth: 'Needs re-authorisation', revoked: 'Revoked in Stripe', disconnected: 'Disconnected' };
const REASONS = {
  access_denied: 'You cancelled the installation in Stripe. Nothing was connected.',
  invalid_state: 'That connection link expired or was already used. Please click Connect Stripe again.',
  invalid_grant: 'Stripe did not accept the authorisation. Please try again.',
  stripe_unavailable: 'Stripe could not be reached. Please try again in a moment.',
  mode_mismatch: 'Stripe answered for the wrong mode. Please try again.',
  invalid_request: 'The response from Stripe was incomplete. Please try again.',
  internal: 'Something went wrong on our side.',
};
const $ = (id) => document.getElementById(id);
$('org').textContent = CONFIG.orgId;
const api = (method, path, body) => fetch(path, { method, headers: { authorization: 'Bearer ' + CONFIG.token, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });

function notice(kind, text) { const n = $('notice'); n.className = 'notice ' + kind; n.textContent = text; n.hidden = false; }
const params = new URLSearchParams(location.search);
if (params.get('stripe') === 'connected') notice('ok', 'Stripe connected. Your first sync is queued.');
if (params.get('stripe') === 'error') {
  const reason = params.get('reason') || 'internal';
  notice('error', (REASONS[reason] || 'Connecting Stripe failed.') + (params.get('ref') ? ' (reference ' + params.get('ref') + ')' : ''));
}
if (params.has('stripe')) { params.delete('stripe'); params.delete('reason'); params.delete('ref'); history.replaceState(null, '', location.pathname + (params.toString() ? '?' + params : '')); }

let timer;
async function refresh() {
  const res = await api('GET', '/v1/integrations/stripe/status');
  if (!res.ok) { $('status').textContent = 'Error ' + res.status; return; }
  const s = await res.json();
  const badge = $('status'); badge.textContent = LABELS[s.status] || s.status; badge.className = 'badge ' + s.status; badge.dataset.status = s.status;
  const connected = s.status === 'connected';
  $('details').hidden = !s.account;
  if (s.account) {
    $('account').textContent = s.account.id; $('mode').textContent = s.account.livemode ? 'live' : 'test';
    $('connected-at').textContent = s.connectedAt ? new Date(s.connectedAt).toLocaleString() : '—';
    $('sync-state').textContent = s.sync.state + (s.sync.progress ? ' — ' + s.sync.progress.resource + ': ' + s.sync.progress.records : '');
    $('last-sync').textContent = s.sync.lastSuccessAt ? new Date(s.sync.lastSuccessAt).toLocaleString() : 'never';
    $('last-error').textContent = s.sync.lastError ? s.sync.lastError.code + ': ' + s.sync.lastError.message : '—';
  }
  const entries = Object.entries(s.sync.counts || {});
  $('counts').hidden = entries.length === 0;
  $('counts').querySelector('tbody').innerHTML = '';
  for (const [resource, n] of entries) { const tr = document.createElement('tr'); tr.dataset.resource = resource; tr.innerHTML = '<td></td><td></td>'; tr.children[0].textContent = resource; tr.children[1].textContent = n; $('counts').querySelector('tbody').append(tr); }
  $('connect').textContent = connected ? 'Reconnect' : 'Connect Stripe';
  $('disconnect').hidden = !connected && s.status !== 'needs_reauth';
  $('sync-now').hidden = !connected;
  clearTimeout(timer);
  timer = setTimeout(refresh, s.sync.state === 'queued' || s.sync.state === 'running' ? 1000 : 5000);
}
$('connect').onclick = async () => {
  $('connect').disabled = true;
  const res = await api('POST', '/v1/integrations/stripe/connect', { mode: $('connect-mode').value, returnTo: location.pathname + location.search });
  if (!res.ok) { $('connect').disabled = false; const e = await res.json().catch(() => ({})); notice('error', (e.error && e.error.message) || 'Could not start connecting.'); return; }
  location.assign((await res.json()).authorizeUrl);
};
$('disconnect').onclick = async () => { const res = await api('DELETE', '/v1/integrations/stripe'); notice(res.ok ? 'ok' : 'error', res.ok ? 'Stripe disconnected.' : 'Could not disconnect.'); refresh(); };
$('sync-now').onclick = async () => {
  const res = await api('POST', '/v1/integrations/stripe/sync');
  const e = res.status === 202 ? null : await res.json().catch(() => ({}));
  notice(res.status === 202 ? 'ok' : 'error', res.status === 202 ? 'Sync queued.' : (e && e.error && e.error.message) || 'Could not queue a sync.');
  refresh();
};
refresh();
</script></body></html>`;
}
