import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type Stripe from 'stripe';
import {
  AccountData,
  type AnyObject,
  DEFAULT_COUNTS,
  type Mode,
  type ResourceCounts,
} from './account-data.js';
import { LATEST_API_VERSION, renderEvent } from './api-versions.js';
import { APP_MANIFEST } from './app-manifest.js';
import { invalidRequest } from './list.js';
import * as build from './objects.js';
import { RESOURCES, type ResourceName } from './objects.js';
import { prng, randomId } from './random.js';

export interface AccountSpec {
  id: string;
  name: string;
  counts?: Partial<ResourceCounts>;
  /**
   * Days before the anchor that the account connected: its `/v1/account` `created`, which
   * Stripe documents as the time the account was connected, not the age of its data. The
   * seeded objects span the year before the anchor, so most are older. Default 30.
   */
  connectedDaysAgo?: number;
  /**
   * The account's default API version: requests without `Stripe-Version` get it, and its
   * events are rendered at it (webhooks at their endpoint's). Default: the latest.
   */
  apiVersion?: string;
}

export interface SandboxOptions {
  /** Seeds every generated object; same seed and anchor, same data. */
  seed?: string;
  /** Unix seconds; seeded objects span the year before it. Default: the start of yesterday (UTC). */
  anchor?: number;
  accounts?: AccountSpec[];
  /**
   * Redirect URIs the app allows besides the manifest's `allowed_redirect_uris` (the local
   * stack's own callback). Stripe compares the whole string: nothing else is accepted.
   */
  allowedRedirectUris?: string[];
  accessTokenTtlSeconds?: number;
  /** Where the sandbox keeps its app keys, grants and activity between restarts; memory only when unset. */
  stateFile?: string;
  /** Milliseconds between webhook retries, doubled each attempt (Stripe waits hours; a laptop should not). */
  webhookRetryBaseMs?: number;
  webhookMaxAttempts?: number;
  /** The sandbox's clock; tests move it with `advanceClock`. */
  now?: () => number;
}

export const DEFAULT_ACCOUNTS: AccountSpec[] = [
  { id: 'acct_1SbxDemoRoasters01', name: 'Demo Coffee Roasters' },
  {
    id: 'acct_1SbxSmallBakery002',
    name: 'Small Bakery',
    counts: {
      balance_transactions: 120,
      charges: 90,
      refunds: 8,
      invoices: 24,
      credit_notes: 3,
      disputes: 2,
    },
  },
];

export const CODE_TTL_SECONDS = 300;
export const EVENT_RETENTION_SECONDS = 30 * 86_400;

interface Grant {
  account: string;
  mode: Mode;
}
interface AccessToken extends Grant {
  expiresAt: number;
  revoked: boolean;
}
interface RefreshToken extends Grant {
  active: boolean;
  /** Stripe's refresh tokens last a year; each refresh issues a new one (absent in older saved state). */
  expiresAt?: number;
}

const REFRESH_TOKEN_TTL_SECONDS = 365 * 86_400;
interface Code extends Grant {
  expiresAt: number;
  used: boolean;
}
export interface WebhookEndpoint {
  id: string;
  url: string;
  mode: Mode | 'all';
  /** The version its payloads are rendered at (the latest unless set when it was created). */
  apiVersion?: string;
  /**
   * Its own signing secrets, newest first (every Stripe endpoint has its own, so a test and a
   * live endpoint sign differently). Unset: the sandbox's `webhookSecrets`.
   */
  secrets?: string[];
}
export interface Delivery {
  eventId: string;
  endpointId: string;
  attempt: number;
  status: number | 'network_error';
  at: number;
}

interface PersistedState {
  version: 1;
  seed: string;
  anchor: number;
  app: { clientId: string; secretKeys: Record<Mode, string>; webhookSecrets: string[] };
  accessTokens: Record<string, AccessToken>;
  refreshTokens: Record<string, RefreshToken>;
  installs: string[];
  endpoints: WebhookEndpoint[];
  /** Written by older sandboxes; not restored: the allowed list is the manifest's plus the starter's. */
  redirectUris?: string[];
  /** Accounts added with `addAccount` (`POST /_sandbox/accounts`), kept across restarts. */
  addedAccounts?: AccountSpec[];
  data: Record<
    string,
    {
      resources: Partial<Record<ResourceName, AnyObject[]>>;
      /** Objects deleted since seeding (customers, products, coupons…). */
      removed?: Partial<Record<ResourceName, string[]>>;
      events: AnyObject[];
      testClocks?: AnyObject[];
      discounts?: AnyObject[];
      removedDiscounts?: string[];
    }
  >;
  clockOffsetMs: number;
}

const productOf = (price: Stripe.Price) =>
  typeof price.product === 'string' ? price.product : price.product.id;

export const ACTIVITY_KINDS = [
  'charge',
  'refund',
  'invoice_paid',
  'invoice_open',
  'invoice_voided',
  'invoice_paid_out_of_band',
  'dispute',
  'credit_note',
  'customer',
  'customer_deleted',
  'test_clock_customer',
  'test_clock_subscription',
  'product',
  'price_archived',
  'coupon',
  'coupon_deleted',
  'coupon_applied',
  'discount_removed',
  'customer_discount',
  'payout',
  'subscription',
  'subscription_canceled',
  'subscription_upgraded',
  'subscription_scheduled',
  'schedule_released',
] as const;
export type ActivityKind = (typeof ACTIVITY_KINDS)[number];

/** Stripe's behaviour, without HTTP: accounts, OAuth grants, objects, events and webhooks. */
export class Sandbox {
  readonly seed: string;
  readonly anchor: number;
  /** The app's name, from its manifest (stripe-app.json). */
  readonly appName = APP_MANIFEST.name;
  readonly clientId: string;
  readonly secretKeys: Record<Mode, string>;
  /** Newest first; while a secret is rolled both sign every delivery. */
  webhookSecrets: string[];
  readonly accounts = new Map<string, AccountSpec & { counts: ResourceCounts }>();
  /** The manifest's `allowed_redirect_uris`, then the starter's and any added while it runs. */
  readonly redirectUris = new Set<string>(APP_MANIFEST.allowed_redirect_uris);
  /**
   * The app's External test install links (`/oauth/v2/<id>/authorize`), each for one mode, as
   * the Dashboard gives one link per mode; any other id is not a link. The public link
   * (`/oauth/v2/authorize`) is the published app's, in live mode.
   */
  readonly installLinks = new Map<string, Mode>([
    ['chnlink_sandboxtest', 'test'],
    ['chnlink_sandboxlive', 'live'],
  ]);
  readonly endpoints: WebhookEndpoint[] = [];
  readonly deliveries: Delivery[] = [];
  accessTokenTtlSeconds: number;
  private readonly data = new Map<string, AccountData>();
  private readonly accessTokens = new Map<string, AccessToken>();
  private readonly refreshTokens = new Map<string, RefreshToken>();
  private readonly codes = new Map<string, Code>();
  private readonly installs = new Set<string>();
  private readonly pending = new Set<Promise<void>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private clockOffsetMs = 0;
  /**
   * /v1/events is eventually consistent: an event can reach the list after later ones have.
   * Events held back from lists (`holdEvents`) until released; the others show at once.
   */
  private readonly heldEvents = new Set<string>();
  /** While `holdEvents` runs its callback: the events it emits. */
  private holding: Set<string> | undefined;
  private readonly addedAccounts: AccountSpec[] = [];
  private saveTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: SandboxOptions = {}) {
    const saved = options.stateFile ? readState(options.stateFile) : undefined;
    this.seed = saved?.seed ?? options.seed ?? 'defrr-sandbox';
    const day = 86_400;
    this.anchor = saved?.anchor ?? options.anchor ?? Math.floor(Date.now() / 1000 / day) * day - day;
    this.clientId = saved?.app.clientId ?? randomId('ca', 32);
    // Clearly fake dev values, made fresh per sandbox (and kept in its state file).
    this.secretKeys = saved?.app.secretKeys ?? {
      test: randomId('sk_test_sandbox', 40),
      live: randomId('sk_live_sandbox', 40),
    };
    this.webhookSecrets = saved?.app.webhookSecrets ?? [randomId('whsec_sandbox', 32)];
    this.accessTokenTtlSeconds = options.accessTokenTtlSeconds ?? 3600;
    for (const spec of options.accounts ?? DEFAULT_ACCOUNTS) {
      this.accounts.set(spec.id, { ...spec, counts: { ...DEFAULT_COUNTS, ...spec.counts } });
    }
    for (const uri of options.allowedRedirectUris ?? []) this.redirectUris.add(uri);
    if (saved) this.restore(saved);
  }

  /** Milliseconds on the sandbox's clock. */
  nowMs(): number {
    return (this.options.now?.() ?? Date.now()) + this.clockOffsetMs;
  }
  now(): number {
    return Math.floor(this.nowMs() / 1000);
  }
  /**
   * The events `emitting` makes reach /v1/events lists only once `release` is called, as
   * Stripe's eventually consistent list can let later events show first (retrieving one by id,
   * and its webhook, are not held back).
   */
  holdEvents<T>(emitting: () => T): { result: T; release: () => void } {
    const held = new Set<string>();
    this.holding = held;
    try {
      const result = emitting();
      return {
        result,
        release: () => {
          for (const id of held) this.heldEvents.delete(id);
        },
      };
    } finally {
      this.holding = undefined;
    }
  }

  /** Whether /v1/events lists show the event yet. */
  eventListed(id: string): boolean {
    return !this.heldEvents.has(id);
  }

  advanceClock(seconds: number): void {
    this.clockOffsetMs += seconds * 1000;
    this.changed();
  }

  accountData(account: string, mode: Mode): AccountData | undefined {
    const spec = this.accounts.get(account);
    if (!spec) return undefined;
    const key = `${account}|${mode}`;
    let data = this.data.get(key);
    if (!data) {
      data = new AccountData(account, mode, spec.counts, this.seed, this.anchor, () => this.now());
      this.data.set(key, data);
    }
    return data;
  }

  accountObject(account: string): Stripe.Account | undefined {
    const spec = this.accounts.get(account);
    if (!spec) return undefined;
    return build.account({
      id: spec.id,
      name: spec.name,
      created: this.anchor - (spec.connectedDaysAgo ?? 30) * 86_400,
      email: `owner@${spec.name.toLowerCase().replace(/[^a-z]+/g, '-')}.example`,
    });
  }

  addAccount(spec: AccountSpec): void {
    if (this.accounts.has(spec.id)) throw new Error(`account ${spec.id} exists`);
    this.accounts.set(spec.id, { ...spec, counts: { ...DEFAULT_COUNTS, ...spec.counts } });
    this.addedAccounts.push(spec);
    this.changed();
  }

  // --- OAuth -----------------------------------------------------------------

  /** What happens when the user clicks Install app: the app is installed and a code issued. */
  install(account: string, mode: Mode): string {
    if (!this.accounts.has(account)) throw new Error(`unknown account ${account}`);
    const code = randomId('ac', 32);
    this.codes.set(code, { account, mode, expiresAt: this.now() + CODE_TTL_SECONDS, used: false });
    const key = `${account}|${mode}`;
    if (!this.installs.has(key)) {
      this.installs.add(key);
      this.emit(account, mode, 'account.application.authorized', this.application());
    }
    this.changed();
    return code;
  }

  /** The user removed the app in their Dashboard: every token of it dies and Stripe says so. */
  uninstall(account: string, mode: Mode): boolean {
    const key = `${account}|${mode}`;
    const wasInstalled = this.installs.delete(key);
    for (const token of this.accessTokens.values()) {
      if (token.account === account && token.mode === mode) token.revoked = true;
    }
    for (const token of this.refreshTokens.values()) {
      if (token.account === account && token.mode === mode) token.active = false;
    }
    if (wasInstalled) this.emit(account, mode, 'account.application.deauthorized', this.application());
    this.changed();
    return wasInstalled;
  }

  isInstalled(account: string, mode: Mode): boolean {
    return this.installs.has(`${account}|${mode}`);
  }

  private application(): AnyObject {
    return build.application({ id: this.clientId, name: this.appName }) as unknown as AnyObject;
  }

  modeOfSecretKey(key: string): Mode | undefined {
    if (key === this.secretKeys.test) return 'test';
    if (key === this.secretKeys.live) return 'live';
    return undefined;
  }

  /** `grant_type=authorization_code`: single use, 5 minutes, only with the key of the code's mode. */
  exchangeCode(code: string, mode: Mode): Record<string, unknown> | OAuthError {
    const grant = this.codes.get(code);
    if (!grant || grant.used || grant.expiresAt < this.now()) {
      if (grant) grant.used = true;
      return oauthError('invalid_grant', `Authorization code does not exist: ${mask(code)}`);
    }
    if (grant.mode !== mode) {
      return oauthError('invalid_grant', 'Authorization code provided does not belong to you');
    }
    grant.used = true;
    return this.issueTokens(grant);
  }

  /** `grant_type=refresh_token`: rotates; the old refresh token stops working at once. */
  refresh(refreshToken: string, mode: Mode): Record<string, unknown> | OAuthError {
    const grant = this.refreshTokens.get(refreshToken);
    if (
      !grant?.active ||
      grant.mode !== mode ||
      (grant.expiresAt !== undefined && grant.expiresAt < this.now()) ||
      !this.isInstalled(grant.account, grant.mode)
    ) {
      return oauthError('invalid_grant', `Invalid refresh token: ${mask(refreshToken)}`);
    }
    grant.active = false;
    return this.issueTokens(grant);
  }

  private issueTokens(grant: Grant): Record<string, unknown> {
    const prefix = grant.mode === 'live' ? 'live' : 'test';
    const accessToken = randomId(`sk_${prefix}_oauth`, 48);
    const refreshToken = randomId('rt', 48);
    this.accessTokens.set(accessToken, {
      account: grant.account,
      mode: grant.mode,
      expiresAt: this.now() + this.accessTokenTtlSeconds,
      revoked: false,
    });
    this.refreshTokens.set(refreshToken, {
      account: grant.account,
      mode: grant.mode,
      active: true,
      expiresAt: this.now() + REFRESH_TOKEN_TTL_SECONDS,
    });
    this.changed();
    return {
      access_token: accessToken,
      refresh_token: refreshToken,
      token_type: 'bearer',
      scope: 'stripe_apps',
      livemode: grant.mode === 'live',
      stripe_user_id: grant.account,
      stripe_publishable_key: randomId(`pk_${prefix}_sandbox`, 24),
    };
  }

  /** Resolves an API key to the account and mode it acts on; why not, otherwise. */
  authenticate(key: string): Grant | { error: 'invalid' | 'expired' } {
    const token = this.accessTokens.get(key);
    if (!token || token.revoked) return { error: 'invalid' };
    if (token.expiresAt <= this.now()) return { error: 'expired' };
    return { account: token.account, mode: token.mode };
  }

  expireAccessTokens(account?: string): number {
    let n = 0;
    for (const token of this.accessTokens.values()) {
      if (!account || token.account === account) {
        token.expiresAt = Math.min(token.expiresAt, this.now() - 1);
        n++;
      }
    }
    this.changed();
    return n;
  }

  // --- Activity and events -----------------------------------------------------

  /**
   * A draft invoice of `lines` lines (Stripe embeds the first ten), with its `invoice.created`;
   * drafts change until finalized, and `reviseDraft` changes one.
   */
  draftInvoice(account: string, mode: Mode, lineCount: number): string {
    const data = this.accountData(account, mode);
    if (!data) throw new Error(`unknown account ${account}`);
    const now = this.now();
    const invoiceId = randomId('in');
    const draft = this.draftWithLines(data, invoiceId, now, lineCount, randomBytes(8).toString('hex'));
    data.collections.invoices.add(draft as unknown as AnyObject);
    this.emit(account, mode, 'invoice.created', draft as unknown as AnyObject);
    return invoiceId;
  }

  /** A draft's lines replaced by `lineCount` new ones (a draft that shrinks), with `invoice.updated`. */
  reviseDraft(account: string, mode: Mode, invoiceId: string, lineCount: number): void {
    const data = this.accountData(account, mode);
    const current = data?.collections.invoices.get(invoiceId) as unknown as Stripe.Invoice | undefined;
    if (!data || current?.status !== 'draft') throw new Error(`no draft invoice ${invoiceId}`);
    const revised = {
      ...this.draftWithLines(data, invoiceId, current.created, lineCount, randomBytes(8).toString('hex')),
      customer: current.customer,
    };
    data.collections.invoices.update(revised as unknown as AnyObject);
    this.emit(account, mode, 'invoice.updated', revised as unknown as AnyObject, {
      total: current.total,
    });
  }

  /**
   * A subscription of `itemCount` items (each on a new monthly price of the newest product,
   * as a subscription cannot bill one price twice), with `customer.subscription.created`;
   * Stripe embeds the first ten items, the rest are on `/v1/subscription_items`.
   */
  subscriptionWithItems(account: string, mode: Mode, itemCount: number): string {
    const data = this.accountData(account, mode);
    if (!data) throw new Error(`unknown account ${account}`);
    const now = this.now();
    const products = data.collections.products;
    const product =
      products.size > 0 ? (products.at(products.size - 1) as { id: string }).id : randomId('prod');
    const items = Array.from({ length: itemCount }, (_, i) => {
      const price = build.price({
        id: randomId('price'),
        created: now,
        livemode: data.livemode,
        product,
        currency: 'usd',
        unitAmount: 500 * (i + 1),
        recurring: { interval: 'month', intervalCount: 1 },
      });
      data.collections.prices.add(price as unknown as AnyObject);
      this.emit(account, mode, 'price.created', price as unknown as AnyObject);
      return { id: randomId('si'), created: now, price, quantity: 1 + (i % 3) };
    });
    const id = randomId('sub');
    const spec = {
      id,
      created: now,
      livemode: data.livemode,
      customer: data.randomCustomer(prng(randomBytes(8).toString('hex'))),
      currency: 'usd',
      items,
      period: { start: now, end: now + 30 * 86_400 },
      status: 'active' as const,
      canceledAt: null,
      latestInvoice: null,
    };
    const sub = build.subscription(spec) as unknown as AnyObject;
    data.collections.subscriptions.add(sub);
    data.subscriptionItems.set(id, build.subscriptionItems(spec));
    this.emit(account, mode, 'customer.subscription.created', sub);
    return id;
  }

  /** A subscription's items cut to its first `keep` (the others removed), with `customer.subscription.updated`. */
  removeSubscriptionItems(account: string, mode: Mode, subscriptionId: string, keep: number): void {
    const data = this.accountData(account, mode);
    const current = data?.collections.subscriptions.get(subscriptionId) as unknown as
      | Stripe.Subscription
      | undefined;
    const items = data?.subscriptionItemsOf(subscriptionId);
    if (!data || !current || !items) throw new Error(`no subscription ${subscriptionId}`);
    const kept = items.slice(0, keep);
    const updated = {
      ...current,
      items: {
        ...current.items,
        data: kept.slice(0, build.EMBEDDED_LINES),
        has_more: kept.length > build.EMBEDDED_LINES,
      },
    };
    data.collections.subscriptions.update(updated as unknown as AnyObject);
    data.subscriptionItems.set(subscriptionId, kept);
    this.emit(account, mode, 'customer.subscription.updated', updated as unknown as AnyObject, {
      items: current.items,
    });
  }

  /** A draft deleted (only drafts can be), with `invoice.deleted` carrying it as it was. */
  deleteDraft(account: string, mode: Mode, invoiceId: string): void {
    const data = this.accountData(account, mode);
    const current = data?.collections.invoices.get(invoiceId) as unknown as Stripe.Invoice | undefined;
    if (!data || current?.status !== 'draft' || data.collections.invoices.isRemoved(invoiceId))
      throw new Error(`no draft invoice ${invoiceId}`);
    data.collections.invoices.remove(invoiceId);
    this.emit(account, mode, 'invoice.deleted', current as unknown as AnyObject);
  }

  private draftWithLines(
    data: AccountData,
    invoiceId: string,
    created: number,
    lineCount: number,
    seed: string,
  ): Stripe.Invoice {
    const next = prng(seed);
    const livemode = data.livemode;
    const lines = Array.from({ length: lineCount }, (_, i) =>
      build.invoiceLine({
        id: randomId('il'),
        invoice: invoiceId,
        livemode,
        amount: 100 + Math.floor(next() * 9_900),
        currency: 'usd',
        period: { start: created, end: created + 30 * 86_400 },
        description: `Seat ${i + 1}`,
      }),
    );
    data.invoiceLines.set(invoiceId, lines);
    const customer = data.randomCustomer(next);
    const invoice = build.invoice({
      id: invoiceId,
      created,
      livemode,
      amount: lines.reduce((sum, l) => sum + l.amount, 0),
      currency: 'usd',
      customer,
      customerName: `Customer ${customer.slice(-4)}`,
      number: null as unknown as string,
      status: 'paid',
      lines,
    });
    return {
      ...invoice,
      status: 'draft',
      number: null,
      amount_paid: 0,
      amount_remaining: invoice.amount_due,
      status_transitions: { ...invoice.status_transitions, paid_at: null, finalized_at: null },
    };
  }

  /** New activity on an account, with the events Stripe would create for it. */
  createActivity(
    account: string,
    mode: Mode,
    kind: ActivityKind,
    /** The object a deletion or an archive acts on (`customer_deleted`, `coupon_deleted`, `price_archived`): the newest one when unset. */
    options: { target?: string } = {},
  ): { objects: string[]; events: string[] } {
    const data = this.accountData(account, mode);
    if (!data) throw new Error(`unknown account ${account}`);
    const now = this.now();
    const livemode = mode === 'live';
    const next = prng(randomBytes(8).toString('hex'));
    const objects: string[] = [];
    const events: string[] = [];
    const emit = (type: string, object: AnyObject, previous?: Record<string, unknown>) =>
      events.push(this.emit(account, mode, type, object, previous));
    const amount = 500 + Math.floor(next() * 49_500);
    const randomAmount = amount;
    const newCharge = (description: string, amount = randomAmount) => {
      const chargeId = randomId('ch');
      const btId = randomId('txn');
      const c = build.charge({
        id: chargeId,
        created: now,
        livemode,
        amount,
        currency: 'usd',
        customer: data.randomCustomer(next),
        balanceTransaction: btId,
        description,
      }) as AnyObject;
      const bt = build.balanceTransaction({
        id: btId,
        created: now,
        livemode,
        amount,
        currency: 'usd',
        source: chargeId,
        type: 'charge',
        fee: Math.round(amount * 0.029) + 30,
      }) as AnyObject;
      data.collections.charges.add(c);
      data.collections.balance_transactions.add(bt);
      objects.push(chargeId, btId);
      return c;
    };
    /**
     * An invoice paid now: the charge that pays it (with its balance transaction) and the invoice
     * payment that ties the two, with their events.
     */
    const payInvoice = (paid: Stripe.Invoice) => {
      const charge = newCharge(`Invoice ${paid.number}`, Math.max(1, paid.amount_due));
      emit('charge.succeeded', charge);
      const payment = build.invoicePayment({
        id: randomId('inpay'),
        created: now,
        livemode,
        invoice: paid.id as string,
        currency: paid.currency,
        amount: paid.amount_due,
        charge: charge.id,
        paidAt: now,
      }) as unknown as AnyObject;
      data.collections.invoice_payments.add(payment);
      objects.push(payment.id);
      emit('invoice_payment.paid', payment);
    };
    /**
     * A subscription's invoice (its first, or a proration), paid at once: created as a draft,
     * finalized, its payment, paid. Its totals are net of its lines' discounts.
     */
    const paySubscriptionInvoice = (c: {
      id: string;
      subscription: string;
      customer: string;
      currency: string;
      lines: Stripe.InvoiceLineItem[];
      billingReason: 'subscription_create' | 'subscription_update';
    }) => {
      const paid = {
        ...build.invoice({
          id: c.id,
          created: now,
          livemode,
          amount: 0,
          currency: c.currency,
          customer: c.customer,
          customerName: `Customer ${c.customer.slice(-4)}`,
          number: `SBX-${Date.now().toString(36).toUpperCase()}`,
          status: 'paid',
          lines: c.lines,
        }),
        billing_reason: c.billingReason,
        parent: {
          type: 'subscription_details',
          quote_details: null,
          subscription_details: { metadata: {}, subscription: c.subscription },
        },
        // Invoiced at once: the period its items were added in is this moment.
        period_start: now,
        period_end: now,
      } as Stripe.Invoice;
      data.collections.invoices.add(paid as unknown as AnyObject);
      data.invoiceLines.set(c.id, c.lines);
      objects.push(c.id);
      const open = { ...paid, status: 'open', amount_paid: 0, amount_remaining: paid.amount_due };
      emit('invoice.created', { ...open, status: 'draft', number: null } as unknown as AnyObject);
      emit('invoice.finalized', open as unknown as AnyObject, { status: 'draft' });
      payInvoice(paid);
      emit('invoice.paid', paid as unknown as AnyObject, { status: 'open', amount_paid: 0 });
    };
    /** The newest object of a collection that is still there and passes `test`. */
    const newest = (resource: ResourceName, test: (o: Record<string, unknown>) => boolean = () => true) => {
      const collection = data.collections[resource];
      for (let p = collection.size - 1; p >= 0; p--) {
        const entry = collection.entries[p];
        if (!entry || collection.isRemoved(entry.id)) continue;
        const object = collection.at(p);
        if (test(object as unknown as Record<string, unknown>)) return object;
      }
      return undefined;
    };
    /** What a deletion (or an archive) acts on: the object named, if it still may be, else the newest that may. */
    const targetOf = (resource: ResourceName, test: (o: Record<string, unknown>) => boolean = () => true) =>
      newest(resource, (o) => test(o) && (options.target === undefined || o.id === options.target));
    /**
     * Canceled at once. Stripe names the event `deleted`, but the subscription stays: its status
     * says canceled, and `status=all` still lists it. A schedule that governs it is canceled too.
     */
    const cancelSubscription = (target: AnyObject) => {
      const canceled = { ...target, status: 'canceled', canceled_at: now, ended_at: now } as AnyObject;
      data.collections.subscriptions.update(canceled);
      objects.push(target.id);
      emit('customer.subscription.deleted', canceled, {
        status: 'active',
        canceled_at: null,
        ended_at: null,
      });
      const schedules = data.collections.subscription_schedules;
      for (let p = 0; p < schedules.size; p++) {
        const schedule = schedules.at(p) as unknown as Record<string, unknown>;
        if (
          schedule.subscription !== target.id ||
          !['active', 'not_started'].includes(String(schedule.status))
        )
          continue;
        const ended = {
          ...schedule,
          status: 'canceled',
          canceled_at: now,
          current_phase: null,
        } as unknown as AnyObject;
        schedules.update(ended);
        objects.push(ended.id);
        emit('subscription_schedule.canceled', ended, { status: schedule.status, canceled_at: null });
      }
    };
    /**
     * Who signs up: the newest customer (the one a `customer` activity just made), not one on a
     * test clock (its subscriptions would be on the clock too, which the sandbox does not model).
     */
    const newestCustomer = () =>
      newest('customers', (c) => typeof c.test_clock !== 'string')?.id ?? data.randomCustomer(next);
    /** A new test clock (test mode only), frozen at now. */
    const newClock = () => {
      if (livemode) throw invalidRequest('Test clocks exist in test mode only.', 'kind');
      const clock = build.testClock({
        id: randomId('clock'),
        created: now,
        name: `Clock ${data.testClocks.size + 1}`,
      });
      data.testClocks.add(clock as unknown as AnyObject);
      return clock;
    };
    /**
     * A customer on a test clock: its events come as any customer's, but Stripe's customer list
     * leaves it out unless asked for by its clock (`test_clock=`).
     */
    const onClock = (clock: Stripe.TestHelpers.TestClock) => {
      const id = randomId('cus');
      const c = {
        ...build.customer({
          id,
          created: now,
          livemode,
          name: `Clock customer ${id.slice(-4)}`,
          email: `clock+${id.slice(-6).toLowerCase()}@example.com`,
          currency: null,
        }),
        test_clock: clock.id,
      } as unknown as AnyObject;
      data.collections.customers.add(c);
      objects.push(id);
      emit('customer.created', c);
      return c;
    };
    /** A customer subscribes to the newest active recurring price (on the customer's test clock, if any). */
    const subscribe = (customer: string, testClock?: string) => {
      const price = newest('prices', (p) => p.active === true && p.type === 'recurring') as unknown as
        | Stripe.Price
        | undefined;
      if (!price) throw invalidRequest('The account has no active recurring price.', 'kind');
      const id = randomId('sub');
      const length = price.recurring?.interval === 'year' ? 365 * 86_400 : 30 * 86_400;
      const sub = {
        ...build.subscription({
          id,
          created: now,
          livemode,
          customer,
          currency: 'usd',
          items: [{ id: randomId('si'), created: now, price, quantity: 1 }],
          period: { start: now, end: now + length },
          status: 'active',
          canceledAt: null,
          latestInvoice: null,
        }),
        ...(testClock ? { test_clock: testClock } : {}),
      } as unknown as AnyObject;
      data.collections.subscriptions.add(sub);
      objects.push(id);
      emit('customer.subscription.created', sub);
    };
    /**
     * A one-line invoice to a seeded customer, stored with its line as it is now (paid or open);
     * the caller emits the events that led there.
     */
    const newInvoice = (status: 'paid' | 'open', period: { start: number; end: number }) => {
      const invoiceId = randomId('in');
      const lines = [
        build.invoiceLine({
          id: randomId('il'),
          invoice: invoiceId,
          livemode,
          amount,
          currency: 'usd',
          period,
          description: 'Subscription',
        }),
      ];
      const customer = data.randomCustomer(next);
      const invoice = build.invoice({
        id: invoiceId,
        created: now,
        livemode,
        amount,
        currency: 'usd',
        customer,
        customerName: `Customer ${customer.slice(-4)}`,
        number: `SBX-${Date.now().toString(36).toUpperCase()}`,
        status,
        lines,
      });
      data.collections.invoices.add(invoice as unknown as AnyObject);
      data.invoiceLines.set(invoiceId, lines);
      objects.push(invoiceId);
      return invoice;
    };
    /** An invoice's open payments canceled, with no event (Stripe has none for it). */
    const cancelOpenPayments = (invoiceId: string) => {
      const payments = data.collections.invoice_payments;
      for (let p = payments.size - 1; p >= 0; p--) {
        const payment = payments.at(p) as unknown as Stripe.InvoicePayment;
        if (payment.invoice !== invoiceId || payment.status !== 'open') continue;
        payments.update({
          ...payment,
          status: 'canceled',
          status_transitions: { ...payment.status_transitions, canceled_at: now },
        } as unknown as AnyObject);
        objects.push(payment.id);
      }
    };
    const customerOf = (o: Record<string, unknown>) =>
      typeof o.customer === 'string' ? o.customer : (o.customer as { id?: string } | null)?.id;
    switch (kind) {
      case 'charge': {
        emit('charge.succeeded', newCharge('Sandbox activity'));
        break;
      }
      case 'customer': {
        const id = randomId('cus');
        const c = build.customer({
          id,
          created: now,
          livemode,
          name: `Customer ${id.slice(-4)}`,
          email: `billing+${id.slice(-6).toLowerCase()}@example.com`,
          currency: null,
        }) as unknown as AnyObject;
        data.collections.customers.add(c);
        objects.push(id);
        emit('customer.created', c);
        break;
      }
      case 'test_clock_customer': {
        onClock(newClock());
        break;
      }
      case 'test_clock_subscription': {
        // A new customer on a new test clock subscribes: the subscription is on the clock too,
        // and Stripe's subscription list leaves it out unless asked by its clock or customer.
        const clock = newClock();
        subscribe(onClock(clock).id, clock.id);
        break;
      }
      case 'customer_deleted': {
        // The newest customer. Stripe cancels a deleted customer's subscriptions at once, each
        // with its own event, then the customer leaves the lists; its event carries it as it was.
        const target = targetOf('customers');
        if (!target) throw invalidRequest('The account has no such customer left to delete.', 'kind');
        objects.push(target.id);
        const subscriptions = data.collections.subscriptions;
        for (let p = 0; p < subscriptions.size; p++) {
          const sub = subscriptions.at(p) as unknown as Record<string, unknown>;
          if (customerOf(sub) === target.id && sub.status !== 'canceled')
            cancelSubscription(sub as unknown as AnyObject);
        }
        data.collections.customers.remove(target.id);
        emit('customer.deleted', target);
        break;
      }
      case 'coupon_deleted': {
        // The event carries the object as it was; lists stop showing it.
        const target = targetOf('coupons');
        if (!target) throw invalidRequest('The account has no such coupon left to delete.', 'kind');
        data.collections.coupons.remove(target.id);
        objects.push(target.id);
        emit('coupon.deleted', target);
        break;
      }
      case 'product': {
        // A product with its first price, as the Dashboard makes one.
        const productId = randomId('prod');
        const priceId = randomId('price');
        const price = build.price({
          id: priceId,
          created: now,
          livemode,
          product: productId,
          currency: 'usd',
          unitAmount: 1_000 + Math.floor(next() * 20) * 500,
          recurring: { interval: 'month', intervalCount: 1 },
        }) as unknown as AnyObject;
        const product = build.product({
          id: productId,
          created: now,
          livemode,
          name: `Plan ${productId.slice(-4)}`,
          defaultPrice: priceId,
        }) as unknown as AnyObject;
        data.collections.products.add(product);
        data.collections.prices.add(price);
        objects.push(productId, priceId);
        emit('product.created', product);
        emit('price.created', price);
        break;
      }
      case 'price_archived': {
        const target = targetOf('prices', (p) => p.active === true);
        if (!target) throw invalidRequest('The account has no such active price to archive.', 'kind');
        const archived = { ...target, active: false } as AnyObject;
        data.collections.prices.update(archived);
        objects.push(target.id);
        emit('price.updated', archived, { active: true });
        break;
      }
      case 'coupon': {
        const c = build.coupon({
          id: randomId('co'),
          created: now,
          livemode,
          percentOff: 5 * (1 + Math.floor(next() * 6)),
          amountOff: null,
          currency: null,
          duration: 'repeating',
          durationInMonths: 3,
        }) as unknown as AnyObject;
        data.collections.coupons.add(c);
        objects.push(c.id);
        emit('coupon.created', c);
        break;
      }
      case 'subscription': {
        subscribe(newestCustomer());
        break;
      }
      case 'coupon_applied': {
        // A customer subscribes with a coupon (the newest valid one, or a new 20% off): the
        // subscription carries the discount, and its first invoice, paid at once, bills the
        // price with the discount on the line (`discount_amounts`) and on the invoice
        // (`total_discount_amounts`). Stripe counts the redemption on the coupon with no event
        // (and a coupon out of redemptions turns `valid: false` the same way).
        const price = newest('prices', (p) => p.active === true && p.type === 'recurring') as unknown as
          | Stripe.Price
          | undefined;
        if (!price) throw invalidRequest('The account has no active recurring price.', 'kind');
        let coupon = newest('coupons', (c) => c.valid === true && c.percent_off !== null) as unknown as
          | Stripe.Coupon
          | undefined;
        if (!coupon) {
          coupon = build.coupon({
            id: randomId('co'),
            created: now,
            livemode,
            percentOff: 20,
            amountOff: null,
            currency: null,
            duration: 'repeating',
            durationInMonths: 3,
          });
          data.collections.coupons.add(coupon as unknown as AnyObject);
          emit('coupon.created', coupon as unknown as AnyObject);
        }
        const redeemed = coupon.times_redeemed + 1;
        data.collections.coupons.update({
          ...coupon,
          times_redeemed: redeemed,
          valid: coupon.max_redemptions === null || redeemed < coupon.max_redemptions,
        } as unknown as AnyObject);
        const subId = randomId('sub');
        const itemId = randomId('si');
        const invoiceId = randomId('in');
        const customer = newestCustomer();
        const length = price.recurring?.interval === 'year' ? 365 * 86_400 : 30 * 86_400;
        const end = now + length;
        const discount = build.discount({
          id: randomId('di'),
          customer,
          subscription: subId,
          start: now,
          coupon,
        }) as unknown as AnyObject;
        const sub = {
          ...build.subscription({
            id: subId,
            created: now,
            livemode,
            customer,
            currency: price.currency,
            items: [{ id: itemId, created: now, price, quantity: 1 }],
            period: { start: now, end },
            status: 'active',
            canceledAt: null,
            latestInvoice: invoiceId,
          }),
          discounts: [discount.id],
        } as unknown as AnyObject;
        const gross = price.unit_amount ?? 0;
        // Percent off the line, as the coupon says (the newest valid one is a percent-off one).
        const off = Math.round((gross * (coupon.percent_off ?? 0)) / 100);
        const line = {
          ...build.invoiceLine({
            id: randomId('il'),
            invoice: invoiceId,
            livemode,
            amount: gross,
            currency: price.currency,
            period: { start: now, end },
            description: `1 × ${price.id} (at ${gross} / ${price.recurring?.interval ?? 'month'})`,
            price: { id: price.id, product: productOf(price) },
            subscriptionItem: { subscription: subId, item: itemId, proration: false },
          }),
          discounts: [discount.id],
          discount_amounts: [{ amount: off, discount: discount.id }],
        } as Stripe.InvoiceLineItem;
        data.collections.subscriptions.add(sub);
        data.discounts.add(discount, now);
        objects.push(coupon.id, subId);
        emit('customer.subscription.created', sub);
        emit('customer.discount.created', discount);
        paySubscriptionInvoice({
          id: invoiceId,
          subscription: subId,
          customer,
          currency: price.currency,
          lines: [line],
          billingReason: 'subscription_create',
        });
        // Last: the invoice and its payment come right after the subscription.
        objects.push(discount.id);
        break;
      }
      case 'customer_discount': {
        // A coupon applied to the newest customer as a whole: the customer embeds the discount.
        const coupon = newest('coupons', (c) => c.valid === true) as unknown as Stripe.Coupon | undefined;
        if (!coupon) throw invalidRequest('The account has no valid coupon.', 'kind');
        const target = newest('customers', (c) => typeof c.test_clock !== 'string' && c.discount === null);
        if (!target) throw invalidRequest('The account has no customer without a discount.', 'kind');
        const discount = {
          ...build.discount({
            id: randomId('di'),
            customer: target.id,
            subscription: '',
            start: now,
            coupon,
          }),
          subscription: null,
        } as unknown as AnyObject;
        const customer = { ...target, discount } as AnyObject;
        data.collections.customers.update(customer);
        data.discounts.add(discount, now);
        objects.push(target.id, discount.id);
        emit('customer.discount.created', discount);
        emit('customer.updated', customer, { discount: null });
        break;
      }
      case 'discount_removed': {
        // The newest discount on a subscription is removed (or its months are over): the
        // subscription no longer names it, and the discount is gone, its event carrying it as it was.
        let target: (AnyObject & { subscription?: string | null }) | undefined;
        for (let p = data.discounts.size - 1; p >= 0 && !target; p--) {
          const entry = data.discounts.entries[p];
          if (!entry || data.discounts.isRemoved(entry.id)) continue;
          const candidate = data.discounts.at(p) as AnyObject & { subscription?: string | null };
          if (typeof candidate.subscription === 'string') target = candidate;
        }
        if (!target) throw invalidRequest('The account has no discount on a subscription.', 'kind');
        const sub = data.collections.subscriptions.get(target.subscription as string) as unknown as
          | (AnyObject & { discounts?: unknown[] })
          | undefined;
        if (sub) {
          const discounts = (sub.discounts ?? []).filter((d) => d !== target?.id);
          data.collections.subscriptions.update({ ...sub, discounts } as AnyObject);
          emit('customer.subscription.updated', { ...sub, discounts } as AnyObject, {
            discounts: sub.discounts,
          });
          objects.push(sub.id);
        }
        data.discounts.remove(target.id);
        objects.push(target.id);
        emit('customer.discount.deleted', target);
        break;
      }
      case 'subscription_upgraded': {
        // Mid-period, the newest active subscription moves its first item to a dearer price of
        // the same interval (the item keeps its id). Stripe prorates, invoiced at once
        // (`always_invoice`): a credit for the unused time on the old price and a charge for the
        // rest of the period on the new one, each a line of the subscription item, paid at once.
        const sub = newest('subscriptions', (s) => s.status === 'active') as unknown as
          | Stripe.Subscription
          | undefined;
        const items = sub ? (data.subscriptionItemsOf(sub.id) ?? []) : [];
        const item = items[0];
        if (!sub || !item) throw invalidRequest('The account has no active subscription to upgrade.', 'kind');
        const from = item.price;
        const unit = from.unit_amount ?? 0;
        let to = newest(
          'prices',
          (p) =>
            p.active === true &&
            (p.recurring as { interval?: string } | null)?.interval === from.recurring?.interval &&
            ((p.unit_amount as number | null) ?? 0) > unit &&
            !items.some((i) => i.price.id === p.id),
        ) as unknown as Stripe.Price | undefined;
        if (!to) {
          to = build.price({
            id: randomId('price'),
            created: now,
            livemode,
            product: productOf(from),
            currency: from.currency,
            unitAmount: Math.max(100, unit * 2),
            recurring: { interval: from.recurring?.interval === 'year' ? 'year' : 'month', intervalCount: 1 },
          });
          data.collections.prices.add(to as unknown as AnyObject);
          emit('price.created', to as unknown as AnyObject);
        }
        const quantity = item.quantity ?? 1;
        const start = item.current_period_start;
        const end = item.current_period_end;
        const left = end > start ? Math.max(0, Math.min(1, (end - now) / (end - start))) : 0;
        const upgraded = {
          ...item,
          price: to,
          plan: {
            ...item.plan,
            id: to.id,
            amount: to.unit_amount,
            amount_decimal: String(to.unit_amount) as never,
          },
        } as Stripe.SubscriptionItem;
        const all = [upgraded, ...items.slice(1)];
        const updated = {
          ...sub,
          items: {
            ...sub.items,
            data: all.slice(0, build.EMBEDDED_LINES),
            has_more: all.length > build.EMBEDDED_LINES,
          },
        };
        data.collections.subscriptions.update(updated as unknown as AnyObject);
        if (data.subscriptionItems.has(sub.id)) data.subscriptionItems.set(sub.id, all);
        emit('customer.subscription.updated', updated as unknown as AnyObject, { items: sub.items });
        const invoiceId = randomId('in');
        const prorated = (price: Stripe.Price, sign: 1 | -1, description: string) =>
          build.invoiceLine({
            id: randomId('il'),
            invoice: invoiceId,
            livemode,
            amount: sign * Math.round((price.unit_amount ?? 0) * quantity * left),
            currency: price.currency,
            period: { start: now, end },
            description,
            price: { id: price.id, product: productOf(price) },
            subscriptionItem: { subscription: sub.id, item: item.id, proration: true },
          });
        const lines = [
          prorated(
            from,
            -1,
            `Unused time on ${from.id} after ${new Date(now * 1000).toISOString().slice(0, 10)}`,
          ),
          prorated(
            to,
            1,
            `Remaining time on ${to.id} after ${new Date(now * 1000).toISOString().slice(0, 10)}`,
          ),
        ];
        objects.push(sub.id);
        paySubscriptionInvoice({
          id: invoiceId,
          subscription: sub.id,
          customer: typeof sub.customer === 'string' ? sub.customer : sub.customer.id,
          currency: from.currency,
          lines,
          billingReason: 'subscription_update',
        });
        break;
      }
      case 'subscription_scheduled': {
        // A schedule takes over the newest active subscription: this period, then one more seat.
        const sub = newest('subscriptions', (s) => s.status === 'active') as unknown as
          | Stripe.Subscription
          | undefined;
        const item = sub?.items.data[0];
        if (!sub || !item)
          throw invalidRequest('The account has no active subscription to schedule.', 'kind');
        const start = item.current_period_start;
        const end = item.current_period_end;
        const schedule = build.subscriptionSchedule({
          id: randomId('sub_sched'),
          created: now,
          livemode,
          customer: typeof sub.customer === 'string' ? sub.customer : sub.customer.id,
          subscription: sub.id,
          status: 'active',
          now,
          phases: [
            { start, end, price: item.price.id, quantity: item.quantity ?? 1, currency: sub.currency },
            {
              start: end,
              end: end + (end - start),
              price: item.price.id,
              quantity: (item.quantity ?? 1) + 1,
              currency: sub.currency,
            },
          ],
        }) as unknown as AnyObject;
        data.collections.subscription_schedules.add(schedule);
        objects.push(schedule.id);
        emit('subscription_schedule.created', schedule);
        break;
      }
      case 'schedule_released': {
        // The newest active schedule lets its subscription go on alone.
        const target = newest('subscription_schedules', (s) => s.status === 'active');
        if (!target) throw invalidRequest('The account has no active schedule to release.', 'kind');
        const released = {
          ...target,
          status: 'released',
          released_at: now,
          released_subscription: (target as unknown as { subscription: unknown }).subscription,
          subscription: null,
          current_phase: null,
        } as unknown as AnyObject;
        data.collections.subscription_schedules.update(released);
        objects.push(target.id);
        emit('subscription_schedule.released', released, { status: 'active', released_at: null });
        break;
      }
      case 'subscription_canceled': {
        const target = newest('subscriptions', (x) => x.status === 'active');
        if (!target) throw invalidRequest('The account has no active subscription to cancel.', 'kind');
        cancelSubscription(target);
        break;
      }
      case 'payout': {
        // Money out to the bank: its balance transaction, then the payout in transit and paid.
        const payoutId = randomId('po');
        const btId = randomId('txn');
        const bt = build.balanceTransaction({
          id: btId,
          created: now,
          livemode,
          amount: -amount,
          currency: 'usd',
          source: payoutId,
          type: 'payout',
          fee: 0,
        }) as AnyObject;
        const inTransit = build.payout({
          id: payoutId,
          created: now,
          livemode,
          amount,
          currency: 'usd',
          balanceTransaction: btId,
          arrivalDate: now + 2 * 86_400,
          status: 'in_transit',
        }) as unknown as AnyObject;
        data.collections.balance_transactions.add(bt);
        data.collections.payouts.add(inTransit);
        objects.push(payoutId, btId);
        emit('payout.created', inTransit);
        const paid = { ...inTransit, status: 'paid' } as AnyObject;
        data.collections.payouts.update(paid);
        emit('payout.paid', paid, { status: 'in_transit' });
        break;
      }
      case 'refund': {
        const target = (this.latestUnrefunded(data) ??
          newCharge('Charge to refund')) as unknown as Stripe.Charge;
        const refundAmount = Math.max(1, Math.floor((target.amount - target.amount_refunded) / 2));
        const refundId = randomId('re');
        const btId = randomId('txn');
        const r = build.refund({
          id: refundId,
          created: now,
          amount: refundAmount,
          currency: 'usd',
          charge: target.id,
          balanceTransaction: btId,
        }) as unknown as AnyObject;
        const bt = build.balanceTransaction({
          id: btId,
          created: now,
          livemode,
          amount: -refundAmount,
          currency: 'usd',
          source: refundId,
          type: 'refund',
          fee: 0,
        }) as AnyObject;
        data.collections.refunds.add(r);
        data.collections.balance_transactions.add(bt);
        const previous = { amount_refunded: target.amount_refunded, refunded: target.refunded };
        const updated: Stripe.Charge = {
          ...target,
          amount_refunded: target.amount_refunded + refundAmount,
          refunded: target.amount_refunded + refundAmount >= target.amount,
        };
        data.collections.charges.update(updated as unknown as AnyObject);
        objects.push(refundId, btId);
        emit('refund.created', r);
        emit('charge.refunded', updated as unknown as AnyObject, previous);
        break;
      }
      case 'invoice_paid': {
        const paid = newInvoice('paid', { start: now - 30 * 86_400, end: now });
        const open: Stripe.Invoice = {
          ...paid,
          status: 'open',
          amount_paid: 0,
          amount_remaining: paid.amount_due,
          status_transitions: { ...paid.status_transitions, paid_at: null },
        };
        const draft: Stripe.Invoice = { ...open, status: 'draft', number: null };
        emit('invoice.created', draft as unknown as AnyObject);
        emit('invoice.finalized', open as unknown as AnyObject, { status: 'draft' });
        payInvoice(paid);
        emit('invoice.paid', paid as unknown as AnyObject, { status: 'open', amount_paid: 0 });
        emit('invoice.payment_succeeded', paid as unknown as AnyObject);
        break;
      }
      case 'invoice_open': {
        // Finalized and awaiting payment. Its invoice payment opens with it, with no event of its
        // own: Stripe's only invoice payment event is `invoice_payment.paid`.
        const open = newInvoice('open', { start: now, end: now + 30 * 86_400 });
        const payment = build.invoicePayment({
          id: randomId('inpay'),
          created: now,
          livemode,
          invoice: open.id as string,
          currency: 'usd',
          amount: open.amount_due,
          charge: null,
          paidAt: null,
        }) as unknown as AnyObject;
        data.collections.invoice_payments.add(payment);
        objects.push(payment.id);
        emit('invoice.created', { ...open, status: 'draft', number: null } as unknown as AnyObject);
        emit('invoice.finalized', open as unknown as AnyObject, { status: 'draft' });
        break;
      }
      case 'invoice_paid_out_of_band': {
        // The newest open invoice is marked paid outside Stripe: its open payment is canceled,
        // silently (`invoice.paid` is the invoice's event, none is the payment's).
        const target = newest('invoices', (i) => i.status === 'open') as unknown as
          | Stripe.Invoice
          | undefined;
        if (!target) throw invalidRequest('The account has no open invoice to mark paid.', 'kind');
        const paid = {
          ...target,
          status: 'paid',
          paid_out_of_band: true,
          amount_paid: target.amount_due,
          amount_remaining: 0,
          status_transitions: { ...target.status_transitions, paid_at: now },
        } as unknown as AnyObject;
        data.collections.invoices.update(paid);
        objects.push(paid.id);
        cancelOpenPayments(target.id as string);
        emit('invoice.paid', paid, { status: 'open', amount_paid: 0 });
        break;
      }
      case 'invoice_voided': {
        // The newest open invoice is voided. Its open payments are canceled with it, silently:
        // `invoice.voided` is the only event.
        const target = newest('invoices', (i) => i.status === 'open') as unknown as
          | Stripe.Invoice
          | undefined;
        if (!target) throw invalidRequest('The account has no open invoice to void.', 'kind');
        const voided = {
          ...target,
          status: 'void',
          amount_remaining: 0,
          status_transitions: { ...target.status_transitions, voided_at: now },
        } as unknown as AnyObject;
        data.collections.invoices.update(voided);
        objects.push(voided.id);
        cancelOpenPayments(target.id as string);
        emit('invoice.voided', voided, { status: 'open', amount_remaining: target.amount_remaining });
        break;
      }
      case 'dispute': {
        const target = newCharge('Disputed charge') as unknown as Stripe.Charge;
        emit('charge.succeeded', target as unknown as AnyObject);
        const disputeId = randomId('dp');
        const bt = build.balanceTransaction({
          id: randomId('txn'),
          created: now,
          livemode,
          amount: -target.amount,
          currency: 'usd',
          source: disputeId,
          type: 'adjustment',
          fee: 1500,
        });
        const d = build.dispute({
          id: disputeId,
          created: now,
          livemode,
          amount: target.amount,
          currency: 'usd',
          charge: target.id,
          balanceTransaction: bt,
        }) as AnyObject;
        data.collections.disputes.add(d);
        data.collections.balance_transactions.add(bt as AnyObject);
        const disputed = { ...target, disputed: true } as unknown as AnyObject;
        data.collections.charges.update(disputed);
        objects.push(disputeId, bt.id);
        emit('charge.dispute.created', d);
        break;
      }
      case 'credit_note': {
        const invoices = data.collections.invoices;
        const invoice =
          invoices.size > 0 ? (invoices.at(invoices.size - 1) as unknown as Stripe.Invoice) : undefined;
        if (!invoice) throw new Error('no invoice to credit');
        const cnId = randomId('cn');
        const lines = [
          {
            id: randomId('cnli'),
            invoiceLineId: invoice.lines.data[0]?.id ?? randomId('il'),
            amount: Math.max(1, Math.floor(invoice.total / 4)),
          },
        ];
        const cn = build.creditNote({
          id: cnId,
          created: now,
          livemode,
          currency: 'usd',
          customer: typeof invoice.customer === 'string' ? invoice.customer : 'cus_unknown',
          invoice: invoice.id as string,
          number: `SBX-CN-${Date.now().toString(36).toUpperCase()}`,
          lines,
        }) as unknown as AnyObject;
        data.creditNoteLines.set(
          cnId,
          lines.map((line) => build.creditNoteLine({ ...line, livemode })),
        );
        data.collections.credit_notes.add(cn);
        objects.push(cn.id);
        emit('credit_note.created', cn);
        break;
      }
    }
    this.changed();
    return { objects, events };
  }

  private latestUnrefunded(data: AccountData): AnyObject | undefined {
    const charges = data.collections.charges;
    for (let p = charges.size - 1; p >= Math.max(0, charges.size - 50); p--) {
      const c = charges.at(p) as unknown as Stripe.Charge;
      if (!c.refunded && c.amount_refunded < c.amount) return c as unknown as AnyObject;
    }
    return undefined;
  }

  /** Records an event and sends it to every webhook endpoint of its mode. */
  emit(
    account: string,
    mode: Mode,
    type: string,
    object: AnyObject,
    previous?: Record<string, unknown>,
  ): string {
    const data = this.accountData(account, mode);
    if (!data) throw new Error(`unknown account ${account}`);
    // Kept in the latest shape, with the version it was created at: /v1/events renders it at
    // that version, each webhook at its endpoint's.
    const event = build.event({
      id: randomId('evt'),
      type,
      created: this.now(),
      livemode: mode === 'live',
      account,
      apiVersion: this.apiVersionOf(account),
      object: structuredClone(object),
      ...(previous ? { previousAttributes: previous } : {}),
    }) as unknown as AnyObject;
    data.events.add(event);
    if (this.holding) {
      this.holding.add(event.id as string);
      this.heldEvents.add(event.id as string);
    }
    // An app installed in both modes: Stripe sends test-mode events to its live endpoints too.
    for (const endpoint of this.endpoints) {
      if (endpoint.mode === 'all' || endpoint.mode === mode || (mode === 'test' && endpoint.mode === 'live'))
        this.deliver(renderEvent(event, endpoint.apiVersion ?? LATEST_API_VERSION), endpoint, 1);
    }
    this.changed();
    return event.id;
  }

  /** Events within Stripe's 30-day retention. */
  eventsOf(account: string, mode: Mode) {
    const data = this.accountData(account, mode);
    return data ? { data, oldest: this.now() - EVENT_RETENTION_SECONDS } : undefined;
  }

  // --- Webhooks ------------------------------------------------------------------

  /** The account's default API version. */
  apiVersionOf(account: string): string {
    return this.accounts.get(account)?.apiVersion ?? LATEST_API_VERSION;
  }

  addEndpoint(
    url: string,
    mode: WebhookEndpoint['mode'] = 'all',
    apiVersion?: string,
    options: { ownSecret?: boolean } = {},
  ): WebhookEndpoint {
    const existing = this.endpoints.find((e) => e.url === url && e.mode === mode);
    if (existing) return existing;
    const endpoint: WebhookEndpoint = {
      id: randomId('we'),
      url,
      mode,
      ...(apiVersion ? { apiVersion } : {}),
      ...(options.ownSecret ? { secrets: [randomId('whsec_sandbox', 32)] } : {}),
    };
    this.endpoints.push(endpoint);
    this.changed();
    return endpoint;
  }

  removeEndpoint(id: string): boolean {
    const index = this.endpoints.findIndex((e) => e.id === id);
    if (index < 0) return false;
    this.endpoints.splice(index, 1);
    this.changed();
    return true;
  }

  /** Starts a new signing secret; the old one keeps signing too until `expireOldWebhookSecrets`. */
  rollWebhookSecret(): string {
    const secret = randomId('whsec_sandbox', 32);
    this.webhookSecrets = [secret, ...this.webhookSecrets];
    this.changed();
    return secret;
  }

  expireOldWebhookSecrets(): void {
    this.webhookSecrets = this.webhookSecrets.slice(0, 1);
    this.changed();
  }

  /** Every signing secret of every endpoint (what a receiver of all of them must accept). */
  allWebhookSecrets(): string[] {
    return [...new Set([...this.webhookSecrets, ...this.endpoints.flatMap((e) => e.secrets ?? [])])];
  }

  /** `t=<unix>,v1=<hex>[,v1=…]`: HMAC-SHA256 of "<t>.<payload>" with each active secret. */
  signature(payload: string, timestamp = this.now(), secrets = this.webhookSecrets): string {
    const signatures = secrets.map(
      (secret) => `v1=${createHmac('sha256', secret).update(`${timestamp}.${payload}`).digest('hex')}`,
    );
    return [`t=${timestamp}`, ...signatures].join(',');
  }

  private deliver(event: AnyObject, endpoint: WebhookEndpoint, attempt: number): void {
    if (this.closed) return;
    const payload = JSON.stringify(event, null, 2);
    const task = (async () => {
      let status: number | 'network_error';
      try {
        const response = await fetch(endpoint.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json; charset=utf-8',
            'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
            'stripe-signature': this.signature(payload, this.now(), endpoint.secrets ?? this.webhookSecrets),
          },
          body: payload,
          // Stripe does not follow redirects: a 3xx is a failed delivery, retried like any other.
          redirect: 'manual',
          signal: AbortSignal.timeout(10_000),
        });
        await response.arrayBuffer();
        status = response.status;
      } catch {
        status = 'network_error';
      }
      this.deliveries.push({ eventId: event.id, endpointId: endpoint.id, attempt, status, at: this.nowMs() });
      const ok = typeof status === 'number' && status >= 200 && status < 300;
      const maxAttempts = this.options.webhookMaxAttempts ?? 6;
      if (!ok && attempt < maxAttempts && !this.closed) {
        const delay = (this.options.webhookRetryBaseMs ?? 500) * 2 ** (attempt - 1);
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          this.deliver(event, endpoint, attempt + 1);
        }, delay);
        this.timers.add(timer);
      }
    })();
    this.pending.add(task);
    void task.finally(() => this.pending.delete(task));
  }

  /** Resolves when no webhook delivery is in flight or waiting to be retried. */
  async webhooksIdle(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.pending.size > 0 || this.timers.size > 0) {
      if (Date.now() > deadline) throw new Error('webhook deliveries still pending');
      await Promise.race([...this.pending, new Promise((resolve) => setTimeout(resolve, 20))]);
    }
  }

  // --- Persistence -----------------------------------------------------------

  private changed(): void {
    if (!this.options.stateFile || this.closed) return;
    if (this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      this.save();
    }, 200);
  }

  save(): void {
    const file = this.options.stateFile;
    if (!file) return;
    const data: PersistedState['data'] = {};
    for (const [key, account] of this.data) {
      const resources: Partial<Record<ResourceName, AnyObject[]>> = {};
      const removed: Partial<Record<ResourceName, string[]>> = {};
      for (const resource of RESOURCES) {
        const stored = account.collections[resource].storedObjects();
        if (stored.length > 0) resources[resource] = stored;
        const gone = account.collections[resource].removedIds();
        if (gone.length > 0) removed[resource] = gone;
      }
      const testClocks = account.testClocks.storedObjects();
      const discounts = account.discounts.storedObjects();
      const removedDiscounts = account.discounts.removedIds();
      data[key] = {
        resources,
        removed,
        events: account.events.storedObjects(),
        ...(testClocks.length > 0 ? { testClocks } : {}),
        ...(discounts.length > 0 ? { discounts, removedDiscounts } : {}),
      };
    }
    const state: PersistedState = {
      version: 1,
      seed: this.seed,
      anchor: this.anchor,
      app: { clientId: this.clientId, secretKeys: this.secretKeys, webhookSecrets: this.webhookSecrets },
      accessTokens: Object.fromEntries(this.accessTokens),
      refreshTokens: Object.fromEntries(this.refreshTokens),
      installs: [...this.installs],
      endpoints: this.endpoints,
      addedAccounts: this.addedAccounts,
      data,
      clockOffsetMs: this.clockOffsetMs,
    };
    writeFileSync(`${file}.tmp`, JSON.stringify(state), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  }

  private restore(state: PersistedState): void {
    for (const spec of state.addedAccounts ?? []) if (!this.accounts.has(spec.id)) this.addAccount(spec);
    for (const [k, v] of Object.entries(state.accessTokens)) this.accessTokens.set(k, v);
    for (const [k, v] of Object.entries(state.refreshTokens)) this.refreshTokens.set(k, v);
    for (const key of state.installs) this.installs.add(key);
    this.endpoints.push(...state.endpoints);
    this.clockOffsetMs = state.clockOffsetMs;
    for (const [key, saved] of Object.entries(state.data)) {
      const [account, mode] = key.split('|') as [string, Mode];
      const data = this.accountData(account, mode);
      if (!data) continue;
      for (const resource of RESOURCES)
        data.collections[resource].restore(saved.resources[resource] ?? [], saved.removed?.[resource] ?? []);
      data.events.restore(saved.events);
      data.testClocks.restore(saved.testClocks ?? []);
      data.discounts.restore(saved.discounts ?? [], saved.removedDiscounts ?? []);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    await Promise.allSettled([...this.pending]);
    this.save();
  }
}

export interface OAuthError {
  error: string;
  error_description: string;
}
function oauthError(error: string, description: string): OAuthError {
  return { error, error_description: description };
}
export function isOAuthError(value: unknown): value is OAuthError {
  return typeof value === 'object' && value !== null && typeof (value as OAuthError).error === 'string';
}

/** Stripe shows keys and codes as their last four characters only. */
export function mask(value: string): string {
  return `${value.slice(0, value.indexOf('_') + 1)}****${value.slice(-4)}`;
}

function readState(file: string): PersistedState | undefined {
  try {
    const state = JSON.parse(readFileSync(file, 'utf8')) as PersistedState;
    return state.version === 1 ? state : undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read the sandbox state file ${file}: ${(error as Error).message}`);
  }
}
