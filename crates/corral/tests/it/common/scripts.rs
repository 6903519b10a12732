//! The programs the real SDKs run: a small Python shop and a small Node.js
//! shop, each an entry script plus an in-app module, written into a fresh
//! directory that is also the working directory (so the SDKs mark the shop's
//! frames in-app, as they do for a deployed application); and a small web
//! shop for `@sentry/browser` in Chromium.
//!
//! The same Python scripts run under sentry-sdk 3.x and 2.x; where the two
//! majors differ, a script does what an application on that major does (see
//! [`PY_MESSAGES`]). They end by printing the SDK's version, so a test can
//! tell which major ran.

/// `shop/billing.py`: the in-app code the Python errors are raised in.
pub const PY_BILLING: &str = r#"
def divide(amount, parts):
    return amount / parts


def charge(amount, parts):
    return divide(amount, parts)


def customer_of(order):
    return order["customer"]
"#;

/// `main.py`, mode `once`, `same-line` or `two-lines`: ZeroDivisionError
/// from `shop.billing.divide` (once; twice from one call line; twice from two
/// call lines of the same function, followed by a KeyError).
pub const PY_GROUPING: &str = r#"
import os
import sys

import sentry_sdk

from shop import billing

sentry_sdk.init(
    dsn=os.environ["SENTRY_DSN"], release="shop@1.4.2", environment="staging"
)
sentry_sdk.set_tag("customer", "acme")


def checkout(mode):
    if mode == "once":
        try:
            billing.charge(100, 0)
        except ZeroDivisionError:
            sentry_sdk.capture_exception()
    elif mode == "same-line":
        for _ in range(2):
            try:
                billing.charge(100, 0)
            except ZeroDivisionError:
                sentry_sdk.capture_exception()
    elif mode == "two-lines":
        try:
            billing.charge(100, 0)
        except ZeroDivisionError:
            sentry_sdk.capture_exception()
        try:
            billing.charge(250, 0)
        except ZeroDivisionError:
            sentry_sdk.capture_exception()
        try:
            billing.customer_of({})
        except KeyError:
            sentry_sdk.capture_exception()
    else:
        raise SystemExit("unknown mode " + mode)


checkout(sys.argv[1])
sentry_sdk.flush()
print("sent by sentry-sdk", sentry_sdk.VERSION)
"#;

/// `main.py`, mode `fingerprint` or `plain`: a ConnectionError and a
/// TimeoutError from two functions; with `fingerprint` both carry the same
/// fingerprint, once set on the scope and once passed to the capture call.
pub const PY_FINGERPRINT: &str = r#"
import os
import sys

import sentry_sdk

sentry_sdk.init(dsn=os.environ["SENTRY_DSN"])
merge = sys.argv[1] == "fingerprint"
FINGERPRINT = ["payment-gateway-unavailable"]


def pay():
    raise ConnectionError("payment gateway refused the connection")


def refund():
    raise TimeoutError("payment gateway timed out after 30s")


try:
    pay()
except ConnectionError as error:
    with sentry_sdk.new_scope() as scope:
        if merge:
            scope.fingerprint = FINGERPRINT
        sentry_sdk.capture_exception(error)

try:
    refund()
except TimeoutError as error:
    if merge:
        sentry_sdk.capture_exception(error, fingerprint=FINGERPRINT)
    else:
        sentry_sdk.capture_exception(error)

sentry_sdk.flush()
print("sent by sentry-sdk", sentry_sdk.VERSION)
"#;

/// `main.py`: messages through the logging integration (one template, two
/// sets of parameters; a critical record) and `capture_message` with a level,
/// with a tag, a release and an environment.
///
/// sentry-sdk 2.x turns the logging integration on by default, with error
/// records as events. 3.x does not, and even when turned on it sends records
/// as Sentry logs unless given an `event_level`: a 3.x application that wants
/// error events from its log says so, as this one does.
pub const PY_MESSAGES: &str = r#"
import logging
import os

import sentry_sdk
from sentry_sdk.integrations.logging import LoggingIntegration

if sentry_sdk.VERSION.startswith("2."):
    integrations = []
else:
    integrations = [LoggingIntegration(event_level=logging.ERROR)]

sentry_sdk.init(
    dsn=os.environ["SENTRY_DSN"],
    release="shop@1.4.2",
    environment="staging",
    integrations=integrations,
)
sentry_sdk.set_tag("customer", "acme")

log = logging.getLogger("shop.orders")
log.error("payment %s failed for %s", 42, "bob")
log.error("payment %s failed for %s", 43, "alice")
log.critical("order database is gone")
sentry_sdk.capture_message("disk almost full", level="warning")

sentry_sdk.flush()
print("sent by sentry-sdk", sentry_sdk.VERSION)
"#;

/// `main.py`: six messages in sequence, each flushed before the next, so each
/// is sent only after the server answered the one before.
pub const PY_QUOTA: &str = r#"
import os

import sentry_sdk

sentry_sdk.init(dsn=os.environ["SENTRY_DSN"])
for i in range(6):
    sentry_sdk.capture_message("quota probe %d" % i)
    sentry_sdk.flush()
print("sent by sentry-sdk", sentry_sdk.VERSION)
"#;

/// `lib/billing.js`: the in-app code the Node.js errors are thrown in.
pub const NODE_BILLING: &str = r#"
function splitOrder(amount, parts) {
  if (parts === 0) {
    throw new Error("cannot split an order into 0 parts");
  }
  return amount / parts;
}

function customerName(order) {
  return order.customer.name;
}

module.exports = { splitOrder, customerName };
"#;

/// `main.js`, mode `errors` or `fingerprint` (CommonJS; `@sentry/node` comes
/// from `NODE_PATH`).
pub const NODE_MAIN: &str = r#"
const Sentry = require("@sentry/node");
const billing = require("./lib/billing");

Sentry.init({
  dsn: process.env.SENTRY_DSN,
  release: "shop-node@2.0.0",
  environment: "production",
});

function checkout() {
  // The same Error from two call lines: the SDK's Dedupe integration drops an
  // event identical to the one before (stack lines included), so one line
  // twice would reach no server twice.
  try {
    billing.splitOrder(100, 0);
  } catch (error) {
    Sentry.captureException(error);
  }
  try {
    billing.splitOrder(250, 0);
  } catch (error) {
    Sentry.captureException(error);
  }
  try {
    billing.customerName({});
  } catch (error) {
    Sentry.captureException(error);
  }
}

function inventory() {
  Sentry.withScope((scope) => {
    scope.setFingerprint(["inventory-service-down"]);
    Sentry.captureException(new RangeError("stock level out of range"));
  });
  Sentry.captureException(new SyntaxError("inventory payload is not JSON"), {
    fingerprint: ["inventory-service-down"],
  });
}

// Six messages on a key allowed two a minute, each flushed: two are
// accepted, the third is answered 429, the SDK holds back the rest. Then it
// waits until RESUME_AT_MS (after the announced limit) and sends again.
async function quota() {
  for (let i = 0; i < 6; i++) {
    Sentry.captureMessage(`node quota probe ${i}`);
    await Sentry.flush(5000);
  }
  const wait = Number(process.env.RESUME_AT_MS) - Date.now();
  if (wait < 0) {
    throw new Error(`the probes ran past the window by ${-wait} ms`);
  }
  await new Promise((resolve) => setTimeout(resolve, wait));
  Sentry.captureMessage("node message after the limit");
}

async function main() {
  const mode = process.argv[2];
  if (mode === "errors") {
    checkout();
  } else if (mode === "fingerprint") {
    inventory();
  } else if (mode === "quota") {
    await quota();
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  if (!(await Sentry.flush(5000))) {
    throw new Error("Sentry.flush timed out");
  }
  await Sentry.close(5000);
  console.log("sent");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
"#;

/// `/static/cart.js`: the web shop's in-app code; adding to the cart throws
/// while the cart service is missing.
pub const WEB_CART: &str = r#"
function addToCart(item) {
  if (!window.cartService) {
    throw new Error("cart service is unavailable");
  }
  window.cartService.add(item);
}
"#;

/// `/shop.html`, the web shop's page. `__OPTIONS__` becomes the options of
/// `Sentry.init` and `__TUNNEL__` Corral's tunnel URL (both as JSON); with
/// `?route=tunnel` the SDK sends through the tunnel, with `?route=direct`
/// straight to the DSN's envelope endpoint, and the event carries the route
/// as a tag. The button's inline handler calls `addToCart`, so the error is
/// uncaught and reaches the SDK through `window.onerror`, as in a real page.
/// The page keeps what the SDK learned from sending each event in
/// `window.sentryResponses`: a status code only when the browser let the
/// page read Corral's answer, which for another origin takes CORS.
pub const WEB_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Web shop</title>
<script src="/static/sentry.js"></script>
<script>
  window.sentryResponses = [];
  var route = new URLSearchParams(location.search).get("route");
  var options = __OPTIONS__;
  if (route === "tunnel") {
    options.tunnel = __TUNNEL__;
  }
  Sentry.init(options);
  Sentry.setTag("route", route);
  Sentry.getClient().on("afterSendEvent", function (event, response) {
    window.sentryResponses.push({
      eventId: event.event_id,
      statusCode: response && response.statusCode !== undefined ? response.statusCode : null,
    });
  });
</script>
<script src="/static/cart.js"></script>
</head>
<body>
<button id="add" onclick="addToCart({ sku: 'tea-42' })">Add to cart</button>
</body>
</html>
"#;
