/**
 * The stand-in for Defrr's Integrations → Stripe screen. It uses only the
 * public API, with a dev token the local stack signs for the page's org.
 */
export function integrationPage(p: { token: string; orgId: string }): string {
  const config = JSON.stringify({ token: p.token, orgId: p.orgId }).replace(/</g, '\\u003c');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Integrations · Stripe — Defrr (local)</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<style>
*{box-sizing:border-box}[hidden]{display:none!important}
body{font-family:system-ui,-apple-system,sans-serif;background:#f5f6f8;color:#1d2330;margin:0}
.top{background:#1d2330;color:#fff;padding:14px 24px;font-weight:600}
main{max-width:720px;margin:32px auto;padding:0 16px}
.card{background:#fff;border-radius:10px;box-shadow:0 1px 4px rgba(0,0,0,.08);padding:24px;margin-bottom:16px}
.card-header{display:flex;flex-wrap:wrap;align-items:center;justify-content:space-between;gap:12px 16px}
.title{display:flex;align-items:center;gap:12px;flex-wrap:wrap}h1{font-size:22px;margin:0}
.connect{display:flex;align-items:center;gap:8px;flex-wrap:wrap;margin-left:auto;justify-content:flex-end}
.muted{color:#5b6474;font-size:14px}.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.badge{display:inline-block;border-radius:999px;padding:4px 12px;font-size:14px;font-weight:600;background:#e6e9ef}
.badge.connected{background:#d7f5e3;color:#0b6b34}.badge.revoked,.badge.needs_reauth{background:#fde2e1;color:#9b1c1c}
button,select{font:inherit;font-size:15px;padding:9px 16px;border-radius:6px;border:1px solid #c4cad4;background:#fff;color:inherit;cursor:pointer}
select{padding:8px 10px}
button.primary{background:#635bff;border-color:#635bff;color:#fff}button.danger{background:#c0123c;border-color:#c0123c;color:#fff}
button:disabled{opacity:.5;cursor:default}
.notice{padding:12px 16px;border-radius:8px;margin-bottom:16px}.notice.ok{background:#d7f5e3}.notice.error{background:#fde2e1}
dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:8px 16px;margin:20px 0 0}dt{color:#5b6474}dd{margin:0;overflow-wrap:anywhere}
.account-name{display:block;font-weight:600}#account code{font-size:13px;color:#5b6474}
table{border-collapse:collapse;margin-top:20px;width:100%;max-width:420px}#connections{max-width:none}.list-title{font-size:18px;margin:0 0 4px}
#connections tr.selected td{background:#f3f2ff}#connections button{padding:4px 10px;font-size:14px}#connections td{overflow-wrap:anywhere}#connections .badge,#connections button{white-space:nowrap}caption{text-align:left;font-weight:600;padding-bottom:6px}
td,th{padding:6px 12px 6px 0;text-align:left;font-size:14px;border-bottom:1px solid #eef0f3}td.count,th.count{text-align:right;padding-right:0;font-variant-numeric:tabular-nums}
.actions{display:flex;gap:12px;flex-wrap:wrap;justify-content:flex-end;margin-top:20px}
dialog{border:0;border-radius:10px;padding:24px;max-width:min(440px,calc(100vw - 32px));box-shadow:0 8px 32px rgba(0,0,0,.2)}
dialog::backdrop{background:rgba(29,35,48,.45)}dialog h2{margin:0 0 8px;font-size:20px}dialog .actions{margin-top:24px}
@media (max-width:480px){.card{padding:16px}main{margin:16px auto}#connections th:nth-child(4),#connections td:nth-child(4){display:none}dl{grid-template-columns:minmax(0,1fr);gap:2px}dt{margin-top:10px}}
</style></head><body><div class="top">Defrr · Integrations</div><main>
<div id="notice" role="status" hidden></div>
<section class="card" aria-labelledby="stripe-title">
<div class="card-header" id="stripe-header">
<div class="title"><h1 id="stripe-title">Stripe</h1><span class="sr-only">Status:</span><span id="status" class="badge">Loading…</span></div>
<div class="connect"><label>Mode <select id="connect-mode"><option value="test">Test</option><option value="live">Live</option></select></label>
<button id="connect" class="primary">Connect Stripe</button></div>
</div>
<p class="muted">Brings your Stripe balance transactions, charges, refunds, invoices, credit notes, disputes, customers, products, prices, coupons, discounts, payouts, subscriptions and invoice payments into Defrr, with read-only access.</p>
<dl id="details" hidden>
<dt>Account</dt><dd id="account"></dd><dt>Mode</dt><dd id="mode"></dd><dt>Connected</dt><dd id="connected-at"></dd>
<dt>Sync</dt><dd id="sync-state"></dd><dt>Last sync</dt><dd id="last-sync"></dd>
<dt id="full-sync-label" hidden>Full re-sync</dt><dd id="full-sync-state" hidden></dd>
<dt id="last-error-label" hidden>Last error</dt><dd id="last-error" hidden></dd>
</dl>
<table id="counts" hidden><caption>Records in Defrr</caption><thead><tr><th>Resource</th><th class="count">Records</th></tr></thead><tbody></tbody></table>
<table id="transactions" hidden><caption>Recent transactions</caption><thead><tr><th>Date</th><th>Type</th><th class="count">Amount</th><th>Currency</th><th>Customer</th></tr></thead><tbody></tbody></table>
<p id="transactions-paging" hidden><button id="transactions-first" type="button">First page</button> <button id="transactions-next" type="button">Next page</button></p>
<table id="runs" hidden><caption>Recent syncs</caption><thead><tr><th>Started</th><th>Why</th><th>Outcome</th><th class="count">Records written</th><th class="count">Stripe requests</th></tr></thead><tbody></tbody></table>
<div class="actions"><button id="sync-now" hidden>Sync now</button><button id="full-sync" hidden>Re-sync everything</button><button id="disconnect" hidden>Disconnect</button></div>
</section>
<section class="card" id="connections-card" aria-labelledby="connections-title" hidden>
<h2 id="connections-title" class="list-title">Connected accounts</h2>
<p class="muted">Each Stripe account, in test and in live mode, is a connection of its own. To add one, pick its mode and click Add an account, then choose the account in Stripe.</p>
<table id="connections"><thead><tr><th>Account</th><th>Mode</th><th>Status</th><th>Last sync</th><th><span class="sr-only">Show</span></th></tr></thead><tbody></tbody></table>
<div class="actions"><label>Mode <select id="add-mode" aria-label="Mode of the account to add"><option value="test">Test</option><option value="live">Live</option></select></label><button id="add-connection">Add an account</button></div>
</section>
<p class="muted">Local stack · org <code id="org"></code></p>
</main>
<dialog id="disconnect-dialog" aria-labelledby="disconnect-title" aria-describedby="disconnect-text">
<h2 id="disconnect-title">Disconnect Stripe?</h2>
<p id="disconnect-text">Defrr will stop syncing <strong id="disconnect-account"></strong> and give up its access to it. Records already in Defrr are kept unless you erase them. You can connect again at any time.</p>
<label><input type="checkbox" id="disconnect-erase"> Also erase its records from Defrr</label>
<form method="dialog" class="actions"><button value="keep" autofocus>Keep connected</button><button value="disconnect" class="danger">Disconnect</button></form>
</dialog>
<script>
const CONFIG = ${config};
const LABELS = { connected: 'Connected', not_connected: 'Not connected', needs_reauth: 'Needs re-authorisation', revoked: 'Revoked in Stripe', disconnected: 'Disconnected' };
const RESOURCES = { balance_transactions: 'Balance transactions', charges: 'Charges', refunds: 'Refunds', invoices: 'Invoices', credit_notes: 'Credit notes', disputes: 'Disputes', customers: 'Customers', products: 'Products', prices: 'Prices', coupons: 'Coupons', payouts: 'Payouts', subscriptions: 'Subscriptions', invoice_payments: 'Invoice payments', subscription_schedules: 'Subscription schedules', discounts: 'Discounts', invoice_line_items: 'Invoice lines', credit_note_line_items: 'Credit-note lines', subscription_items: 'Subscription items' };
const TRIGGERS = { initial: 'First sync', nightly: 'Nightly', manual: 'Sync now', webhook: 'Stripe event', continue: 'Continued', resume: 'Resumed', erase: 'Erase' };
const OUTCOMES = { completed: 'Completed', partial: 'Partly failed', continued: 'Continues', stopped: 'Stopped', failed: 'Failed, will retry' };
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
const number = new Intl.NumberFormat('en-US');
const resourceLabel = (name) => RESOURCES[name] || (name.charAt(0).toUpperCase() + name.slice(1)).replace(/_/g, ' ');
const when = (iso) => new Date(iso).toLocaleString();
$('org').textContent = CONFIG.orgId;
const api = (method, path, body) => fetch(path, { method, headers: { authorization: 'Bearer ' + CONFIG.token, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });

function notice(kind, text) { const n = $('notice'); n.className = 'notice ' + kind; n.textContent = text; n.hidden = false; }
/** A notice about a sync that is on its way; it says so once the sync has finished (or failed). */
let pendingSync = null;
const params = new URLSearchParams(location.search);
// Back from Stripe with an install to confirm: only the user who started the connect can.
const confirming = params.get('stripe') === 'confirm' && params.get('install')
  ? { install: params.get('install') }
  : null;
if (confirming) notice('ok', 'Finishing the connection…');
if (params.get('stripe') === 'error') {
  const reason = params.get('reason') || 'internal';
  notice('error', (REASONS[reason] || 'Connecting Stripe failed.') + (params.get('ref') ? ' (reference ' + params.get('ref') + ')' : ''));
}
if (params.has('stripe')) { for (const key of ['stripe', 'reason', 'ref', 'install']) params.delete(key); history.replaceState(null, '', location.pathname + (params.toString() ? '?' + params : '')); }
async function confirmInstall() {
  if (!confirming) return;
  try {
    const res = await api('POST', '/v1/integrations/stripe/connect/confirm', confirming);
    if (res.ok) {
      notice('ok', 'Stripe connected. Your first sync is queued.');
      pendingSync = { first: true, since: null };
      return;
    }
    const e = await res.json().catch(() => ({}));
    notice('error', (e.error && e.error.message) || 'Connecting Stripe failed.');
  } catch { notice('error', 'Connecting Stripe failed.'); }
}

function syncNotice(s) {
  if (!pendingSync || s.status !== 'connected') return;
  const first = pendingSync.first;
  if (s.sync.state === 'running') notice('ok', first ? 'Stripe connected. Your first sync is running.' : 'Sync running.');
  else if (s.sync.state === 'failed') {
    notice('error', (first ? 'Stripe connected, but the first sync failed.' : 'The sync failed.') + ' It will be retried.');
    pendingSync = null;
  } else if (s.sync.state === 'idle' && s.sync.lastSuccessAt && s.sync.lastSuccessAt !== pendingSync.since) {
    notice('ok', first ? 'Stripe connected. First sync finished.' : 'Sync finished.');
    pendingSync = null;
  }
}

function syncState(sync) {
  if (sync.state === 'running') return sync.progress ? 'Syncing — ' + resourceLabel(sync.progress.resource) + ': ' + number.format(sync.progress.records) : 'Syncing…';
  if (sync.state === 'queued') return 'Queued';
  if (sync.state === 'interrupted') return 'Interrupted — resuming';
  if (sync.state === 'failed') return 'Failed';
  return sync.lastSuccessAt ? 'Up to date' : 'Not synced yet';
}

/** The account's details and counts, or nothing at all: a disconnected page shows no old account. */
function renderDetails(s) {
  const show = Boolean(s.account) && s.status !== 'disconnected' && s.status !== 'not_connected';
  $('details').hidden = !show;
  const tbody = $('counts').querySelector('tbody');
  tbody.replaceChildren();
  for (const id of ['account', 'mode', 'connected-at', 'sync-state', 'last-sync', 'last-error']) $(id).replaceChildren();
  delete $('mode').dataset.mode;
  const entries = show ? Object.entries(s.sync.counts || {}) : [];
  $('counts').hidden = entries.length === 0;
  $('last-error').hidden = $('last-error-label').hidden = !(show && s.sync.lastError);
  if (!show) { loadTransactions(null); return renderRuns([]); }
  // The page the user is on, read again (a sync may have changed it); another connection's: its first.
  loadTransactions(s.id, s.id === tx.connection ? tx.after : null);
  const account = $('account');
  if (s.account.name) { const name = document.createElement('span'); name.className = 'account-name'; name.id = 'account-name'; name.textContent = s.account.name; account.append(name, ' '); }
  const id = document.createElement('code'); id.id = 'account-id'; id.textContent = s.account.id; account.append(id);
  const mode = s.account.livemode ? 'live' : 'test';
  $('mode').textContent = s.account.livemode ? 'Live' : 'Test'; $('mode').dataset.mode = mode;
  $('connected-at').textContent = s.connectedAt ? when(s.connectedAt) : '—';
  $('sync-state').textContent = syncState(s.sync);
  $('last-sync').textContent = s.sync.lastSuccessAt ? when(s.sync.lastSuccessAt) : 'never';
  if (s.sync.lastError) $('last-error').textContent = s.sync.lastError.message;
  renderRuns(s.runs || []);
  const order = Object.keys(RESOURCES);
  entries.sort(([a], [b]) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99));
  for (const [resource, n] of entries) {
    const tr = document.createElement('tr'); tr.dataset.resource = resource; tr.dataset.count = String(n);
    const label = document.createElement('td'); label.textContent = resourceLabel(resource);
    const count = document.createElement('td'); count.className = 'count'; count.textContent = number.format(n);
    tr.append(label, count); tbody.append(tr);
  }
}

/**
 * The shown connection's charges and refunds, read from the records API (Defrr's way in) ten
 * at a time in the feed's order, paging with its cursor.
 */
const tx = { connection: null, after: null, next: null, loading: false };
async function loadTransactions(connectionId, after) {
  if (!connectionId) { $('transactions').hidden = true; $('transactions-paging').hidden = true; tx.connection = null; return; }
  if (tx.loading) return;
  tx.loading = true;
  try {
    const query = new URLSearchParams({ resource: 'charges,refunds', limit: '10' });
    if (after) query.set('after', after);
    const res = await api('GET', '/v1/integrations/stripe/connections/' + encodeURIComponent(connectionId) + '/records?' + query);
    if (!res.ok) return;
    const page = await res.json();
    tx.connection = connectionId; tx.after = after; tx.next = page.has_more ? page.next : null;
    const tbody = $('transactions').querySelector('tbody');
    tbody.replaceChildren();
    for (const record of page.data) {
      const o = record.object;
      const tr = document.createElement('tr'); tr.dataset.id = record.id; tr.dataset.action = record.action;
      const date = document.createElement('td'); date.textContent = when(new Date(o.created * 1000).toISOString());
      const type = document.createElement('td'); type.textContent = (record.resource === 'refunds' ? 'Refund' : 'Charge') + (record.action === 'deleted' ? ' (deleted)' : '');
      const amount = document.createElement('td'); amount.className = 'count'; amount.textContent = (o.amount / 100).toFixed(2);
      const currency = document.createElement('td'); currency.textContent = String(o.currency || '').toUpperCase();
      const customer = document.createElement('td'); customer.textContent = typeof o.customer === 'string' ? o.customer : (o.customer && o.customer.id) || '—';
      tr.append(date, type, amount, currency, customer); tbody.append(tr);
    }
    $('transactions').hidden = page.data.length === 0 && !after;
    $('transactions-paging').hidden = !tx.next && !after;
    $('transactions-next').disabled = !tx.next;
    $('transactions-first').disabled = !after;
  } finally { tx.loading = false; }
}
$('transactions-next').onclick = () => { if (tx.next) loadTransactions(tx.connection, tx.next); };
$('transactions-first').onclick = () => loadTransactions(tx.connection, null);

/** The shown connection's last runs: when, why, how it ended (and why not), what it wrote and asked. */
function renderRuns(runs) {
  const tbody = $('runs').querySelector('tbody');
  tbody.replaceChildren();
  $('runs').hidden = runs.length === 0;
  for (const run of runs) {
    const tr = document.createElement('tr'); tr.dataset.outcome = run.outcome; tr.dataset.trigger = run.trigger;
    const started = document.createElement('td'); started.textContent = when(run.startedAt);
    const why = document.createElement('td'); why.textContent = TRIGGERS[run.trigger] || run.trigger;
    const outcome = document.createElement('td'); outcome.textContent = OUTCOMES[run.outcome] || run.outcome;
    const error = run.errors.find((e) => !e.resource) || run.errors[0];
    if (error) outcome.title = error.message;
    const written = document.createElement('td'); written.className = 'count';
    written.textContent = number.format(Object.values(run.written).reduce((a, b) => a + b, 0));
    const requests = document.createElement('td'); requests.className = 'count'; requests.textContent = number.format(run.requests);
    tr.append(started, why, outcome, written, requests); tbody.append(tr);
  }
}

/** The connection the details show: the one the user picked, else the org's connection in use. */
let selectedId = null;
function shown(s) {
  const list = s.connections || [];
  return list.find((c) => c.id === selectedId) || list.find((c) => c.status !== 'disconnected') || list[0] || null;
}
function renderConnections(s) {
  const list = s.connections || [];
  $('connections-card').hidden = list.length === 0;
  const tbody = $('connections').querySelector('tbody');
  tbody.replaceChildren();
  const selected = shown(s);
  for (const c of list) {
    const tr = document.createElement('tr'); tr.dataset.connectionId = c.id; tr.dataset.status = c.status;
    if (selected && selected.id === c.id) tr.className = 'selected';
    const account = document.createElement('td'); account.textContent = c.account.name ? c.account.name + ' (' + c.account.id + ')' : c.account.id;
    const mode = document.createElement('td'); mode.textContent = c.mode === 'live' ? 'Live' : 'Test'; mode.dataset.mode = c.mode;
    const status = document.createElement('td'); const badge = document.createElement('span'); badge.className = 'badge ' + c.status; badge.textContent = LABELS[c.status] || c.status; status.append(badge);
    const last = document.createElement('td'); last.textContent = c.erasure && c.erasure.state !== 'done' ? 'Erasing records…' : c.erasure ? 'Records erased' : c.sync.lastSuccessAt ? when(c.sync.lastSuccessAt) : 'never';
    const action = document.createElement('td'); const show = document.createElement('button'); show.textContent = 'Show'; show.setAttribute('aria-label', 'Show ' + (c.account.name || c.account.id) + ' (' + c.mode + ')');
    show.onclick = () => { selectedId = c.id; refresh(); };
    action.append(show);
    tr.append(account, mode, status, last, action); tbody.append(tr);
  }
}

let timer;
let latest = 0;
let leaving = false;
let shownMode = null;
let current = null;
const again = (ms) => { clearTimeout(timer); if (!leaving) timer = setTimeout(refresh, ms); };
async function refresh() {
  const seq = ++latest;
  let s;
  try {
    const res = await api('GET', '/v1/integrations/stripe/status');
    if (seq !== latest) return;
    if (!res.ok) { $('status').textContent = 'Error ' + res.status; again(5000); return; }
    s = await res.json();
  } catch { if (seq === latest) again(5000); return; }
  if (seq !== latest) return;
  renderConnections(s);
  const one = shown(s);
  // The details are the shown connection's (the org's summary when it has none).
  s = one ? { ...one, status: one.status } : s;
  current = s;
  const badge = $('status'); badge.textContent = LABELS[s.status] || s.status; badge.className = 'badge ' + s.status; badge.dataset.status = s.status;
  renderDetails(s);
  const full = s.fullSync;
  const showFull = Boolean(full) && s.status === 'connected';
  $('full-sync-label').hidden = $('full-sync-state').hidden = !showFull;
  if (showFull) $('full-sync-state').textContent = full.state === 'done'
    ? 'Done ' + when(full.finishedAt) + ' — ' + number.format(full.added) + ' added, ' + number.format(full.updated) + ' updated, ' + number.format(full.deleted) + ' marked deleted'
    : full.state === 'pending' ? 'Queued' : 'Running';
  syncNotice(s);
  const connected = s.status === 'connected';
  // The mode picker shows the connection's mode (until the user picks another to reconnect with).
  const mode = s.account && s.status !== 'disconnected' ? (s.account.livemode ? 'live' : 'test') : null;
  const key = mode && s.account.id + '|' + mode;
  if (key && key !== shownMode) $('connect-mode').value = mode;
  shownMode = key;
  $('connect').textContent = connected || s.status === 'needs_reauth' ? 'Reconnect' : 'Connect Stripe';
  $('disconnect').hidden = !connected && s.status !== 'needs_reauth';
  $('sync-now').hidden = !connected;
  $('full-sync').hidden = !connected || Boolean(s.fullSync && s.fullSync.state !== 'done');
  const busy = (s.fullSync && s.fullSync.state !== 'done') || (s.erasure && s.erasure.state !== 'done');
  again(s.sync.state === 'queued' || s.sync.state === 'running' || busy ? 1000 : 5000);
}
addEventListener('pagehide', () => { leaving = true; clearTimeout(timer); });
/** Off to Stripe to pick an account in this mode: a new one adds a connection, a connected one re-authorises it. */
const connectButtons = (disabled) => { $('connect').disabled = $('add-connection').disabled = disabled; };
async function startConnect(mode) {
  connectButtons(true);
  try {
    const res = await api('POST', '/v1/integrations/stripe/connect', { mode, returnTo: location.pathname + location.search });
    if (!res.ok) { connectButtons(false); const e = await res.json().catch(() => ({})); notice('error', (e.error && e.error.message) || 'Could not start connecting.'); return; }
    const { authorizeUrl } = await res.json();
    leaving = true; clearTimeout(timer);
    location.assign(authorizeUrl);
  } catch { connectButtons(false); notice('error', 'Could not start connecting.'); }
}
// Back from Stripe out of the back/forward cache: the page as it was left, so wake it up.
addEventListener('pageshow', (e) => { if (e.persisted) { leaving = false; connectButtons(false); refresh(); } });
$('connect').onclick = () => startConnect($('connect-mode').value);
$('add-connection').onclick = () => startConnect($('add-mode').value);
const dialog = $('disconnect-dialog');
$('disconnect').onclick = () => {
  $('disconnect-account').textContent = current && current.account ? (current.account.name || current.account.id) : 'this account';
  $('disconnect-erase').checked = false;
  dialog.returnValue = '';
  dialog.showModal();
};
dialog.addEventListener('close', async () => {
  if (dialog.returnValue !== 'disconnect') return;
  $('disconnect').disabled = true;
  try {
    const erase = $('disconnect-erase').checked;
    const res = await api('DELETE', connectionPath('') + (erase ? '?records=erase' : ''));
    notice(res.ok ? 'ok' : 'error', res.ok ? (erase ? 'Stripe disconnected. Its records are being erased.' : 'Stripe disconnected.') : 'Could not disconnect.');
    if (res.ok) pendingSync = null;
  } catch { notice('error', 'Could not disconnect.'); }
  $('disconnect').disabled = false;
  await refresh();
});
/** The shown connection's path (the org-wide one while the status names none). */
const connectionPath = (rest) => current && current.id ? '/v1/integrations/stripe/connections/' + encodeURIComponent(current.id) + rest : '/v1/integrations/stripe' + rest;
$('full-sync').onclick = async () => {
  $('full-sync').disabled = true;
  try {
    const res = await api('POST', connectionPath('/sync'), { mode: 'full' });
    const e = res.status === 202 ? null : await res.json().catch(() => ({}));
    notice(res.status === 202 ? 'ok' : 'error', res.status === 202 ? 'Full re-sync queued: every record is read again from Stripe.' : (e && e.error && e.error.message) || 'Could not queue a re-sync.');
  } catch { notice('error', 'Could not queue a re-sync.'); }
  $('full-sync').disabled = false;
  await refresh();
};
$('sync-now').onclick = async () => {
  $('sync-now').disabled = true;
  try {
    const res = await api('POST', connectionPath('/sync'));
    const e = res.status === 202 ? null : await res.json().catch(() => ({}));
    notice(res.status === 202 ? 'ok' : 'error', res.status === 202 ? 'Sync queued.' : (e && e.error && e.error.message) || 'Could not queue a sync.');
    if (res.status === 202) pendingSync = { first: false, since: current ? current.sync.lastSuccessAt : null };
  } catch { notice('error', 'Could not queue a sync.'); }
  $('sync-now').disabled = false;
  await refresh();
};
confirmInstall().finally(refresh);
</script></body></html>`;
}
