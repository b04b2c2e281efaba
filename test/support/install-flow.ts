/**
 * A browser's part in the Stripe sandbox's install flow, over plain HTTP: it
 * reads the form each screen renders (its action, hidden fields, radio choices
 * and buttons) and submits it as a browser would when a button is pressed, so
 * the tests go through the same screens a person does.
 */

const decodeEntities = (value: string) =>
  value.replace(/&(amp|lt|gt|quot|#39);/g, (_, name: string) =>
    name === 'amp' ? '&' : name === 'lt' ? '<' : name === 'gt' ? '>' : name === 'quot' ? '"' : "'",
  );

function attributes(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const match of tag.matchAll(/([a-zA-Z][\w-]*)(?:="([^"]*)")?/g)) {
    out[(match[1] as string).toLowerCase()] = decodeEntities(match[2] ?? '');
  }
  return out;
}

export interface InstallScreen {
  url: URL;
  status: number;
  html: string;
  /** The first <h1>'s text. */
  heading: string;
}

export interface InstallForm {
  action: URL;
  fields: Array<[string, string]>;
  /** Radio inputs by name: their values, and which one is checked. */
  radios: Map<string, { values: string[]; checked: string | undefined }>;
  /** The submit buttons by their visible label. */
  buttons: Map<string, { name: string; value: string }>;
}

const text = (html: string) =>
  decodeEntities(html.replace(/<[^>]*>/g, ' '))
    .replace(/\s+/g, ' ')
    .trim();

export function screenOf(url: URL, status: number, html: string): InstallScreen {
  return { url, status, html, heading: text(html.match(/<h1\b[^>]*>([\s\S]*?)<\/h1>/)?.[1] ?? '') };
}

/** The screen's one form. */
export function formOf(screen: InstallScreen): InstallForm {
  const form = screen.html.match(/<form\b([^>]*)>([\s\S]*?)<\/form>/);
  if (!form) throw new Error(`"${screen.heading}" (${screen.status}) has no form`);
  const { action = '', method = '' } = attributes(form[1] as string);
  if (method.toLowerCase() !== 'post') throw new Error(`"${screen.heading}" has a ${method || 'GET'} form`);
  const fields: Array<[string, string]> = [];
  const radios: InstallForm['radios'] = new Map();
  for (const [tag] of (form[2] as string).matchAll(/<input\b[^>]*>/g)) {
    const input = attributes(tag);
    if (!input.name) continue;
    if (input.type === 'radio') {
      const group = radios.get(input.name) ?? { values: [], checked: undefined };
      group.values.push(input.value ?? '');
      if ('checked' in input) group.checked = input.value;
      radios.set(input.name, group);
    } else if (input.type === 'hidden') fields.push([input.name, input.value ?? '']);
  }
  const buttons: InstallForm['buttons'] = new Map();
  for (const match of (form[2] as string).matchAll(/<button\b([^>]*)>([\s\S]*?)<\/button>/g)) {
    const button = attributes(match[1] as string);
    if (button.name) buttons.set(text(match[2] as string), { name: button.name, value: button.value ?? '' });
  }
  return { action: new URL(action, screen.url), fields, radios, buttons };
}

export type Pressed = { screen: InstallScreen } | { redirect: URL; status: number };

/** Presses a button of the screen's form (with radio choices, else the checked ones) and reads what comes back. */
export async function press(
  screen: InstallScreen,
  label: string,
  choices: Record<string, string> = {},
): Promise<Pressed> {
  const form = formOf(screen);
  const button = form.buttons.get(label);
  if (!button)
    throw new Error(
      `"${screen.heading}" has no ${label} button (it has ${[...form.buttons.keys()].join(', ')})`,
    );
  const body = new URLSearchParams(form.fields);
  for (const [name, group] of form.radios) {
    const value = choices[name] ?? group.checked;
    if (value !== undefined) body.set(name, value);
  }
  body.append(button.name, button.value);
  const response = await fetch(form.action, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  const location = response.headers.get('location');
  if (response.status >= 300 && response.status < 400 && location) {
    await response.body?.cancel();
    return { redirect: new URL(location, form.action), status: response.status };
  }
  return { screen: screenOf(form.action, response.status, await response.text()) };
}

/** Opens the install link, as the browser does when the connect API sends it there. */
export async function openInstallLink(url: URL): Promise<InstallScreen> {
  const response = await fetch(url, { redirect: 'manual' });
  return screenOf(url, response.status, await response.text());
}

/** Where the confirmation screen sends the browser (its meta refresh, which its Continue link matches). */
export function confirmationTarget(screen: InstallScreen): URL {
  const refresh = screen.html.match(/<meta http-equiv="refresh" content="(\d+);url=([^"]+)">/);
  const link = screen.html.match(/<a\b[^>]*\bid="continue"[^>]*\bhref="([^"]+)"/);
  if (!refresh || !link) throw new Error(`"${screen.heading}" does not send the browser anywhere`);
  const target = decodeEntities(refresh[2] as string);
  if (decodeEntities(link[1] as string) !== target)
    throw new Error('the Continue link and the refresh disagree');
  return new URL(target);
}

/** The screen a button led to; anything else (a redirect, an error status) is an error naming the step. */
export function expectScreen(pressed: Pressed, after: string): InstallScreen {
  if ('redirect' in pressed) throw new Error(`${after}: redirected (${pressed.status}) instead of a screen`);
  if (pressed.screen.status !== 200)
    throw new Error(
      `${after}: the install flow answered ${pressed.screen.status} "${pressed.screen.heading}"`,
    );
  return pressed.screen;
}
