// Chromium fails the requests in flight when the host's addresses change
// (net::ERR_NETWORK_CHANGED), and where sandboxes start and stop alongside,
// docker's networks come and go. That is the host, not the app: a page load
// it broke is tried again (three tries in all); any other failure stands.

export const TRIES = 3;

/** Whether any of these error texts is Chromium's network-changed error. */
export const networkChanged = (texts) => texts.some((t) => String(t).includes('ERR_NETWORK_CHANGED'));

/** `page.goto`, tried again when the host's network changed under it. */
export async function gotoRetrying(page, url, options, log) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await page.goto(url, options);
    } catch (err) {
      if (attempt === TRIES || !networkChanged([err && err.message])) throw err;
      log(`the host's network changed while ${url} loaded (net::ERR_NETWORK_CHANGED): loading it again`);
    }
  }
}
