// Chromium fails the requests in flight when the host's addresses change
// (net::ERR_NETWORK_CHANGED), loopback ones too (seen in CI), and where
// sandboxes start and stop alongside, docker's networks come and go. That is
// the host, not the app: a page load it broke is tried again (three tries in
// all); any other failure stands.

export const TRIES = 3;

/**
 * Whether a failed page load is the host's network change: Chromium's error,
 * or, on a later try, its aftermath: Chromium then shows its own error page
 * (chrome-error://), whose navigation interrupts the one started next.
 */
export function networkChanged(texts, attempt) {
  const seen = (needle) => texts.some((t) => String(t).includes(needle));
  return seen('ERR_NETWORK_CHANGED') || (attempt > 1 && seen('chrome-error://'));
}

/** Lets Chromium finish showing its error page before the next try. */
export async function settle(page) {
  await page.waitForLoadState('load', { timeout: 5000 }).catch(() => {});
  await page.waitForTimeout(500);
}

/** `page.goto`, tried again when the host's network changed under it. */
export async function gotoRetrying(page, url, options, log) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await page.goto(url, options);
    } catch (err) {
      if (attempt === TRIES || !networkChanged([err && err.message], attempt)) throw err;
      log(`the host's network changed while ${url} loaded (net::ERR_NETWORK_CHANGED): loading it again`);
      await settle(page);
    }
  }
}
