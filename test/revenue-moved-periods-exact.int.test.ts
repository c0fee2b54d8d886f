import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  sendStripeWebhook,
  stripeEvent,
  type FakeStripe,
} from "./fakes/stripe-server.js";
import { useTestDatabase } from "./harness/db.js";
import {
  api,
  createCreatorWithKey,
  createMeter,
  trpcQuery,
} from "./harness/fixtures.js";
import type { TestServer } from "./harness/server.js";
import { startServerWithFakeStripe, subscriptionWithPeriod } from "./harness/stripe-linked.js";

/**
 * The revenue page (overage so far / projected), the overview and Top users: their figures are
 * what each customer's own usage answer (GET /api/usage/customers/{id}/usage) says — to the 9th
 * decimal for an hours meter, and once per customer after Stripe moved their billing anchor.
 * June 2026 has 30 days; the 16th at midnight is halfway through a calendar-month period.
 */
const HALF_JUNE = new Date("2026-06-16T00:00:00Z");
let clock = HALF_JUNE;
const WEBHOOK_SECRET = "whsec_reviewSigningSecret0123456789";

const { url } = await useTestDatabase();
let server: TestServer;
let fake: FakeStripe;
beforeAll(async () => {
  ({ server, fake } = await startServerWithFakeStripe(url, {
    now: () => clock,
  }));
});
afterAll(async () => {
  await server?.close();
  await fake?.close();
});

async function creator() {
  const { apiKey, creator } = await createCreatorWithKey(server.rt);
  return { call: api(server.url, apiKey), creator };
}

/**
 * A creator with meter `calls` (count; pro: 10 included, then 1 each) and customer ann on pro,
 * linked to Stripe: 15 calls on June 10 in her calendar-month period, then on June 16 she
 * subscribes — Stripe's period (and so hers) is June 15 12:00 → July 15 12:00 — and makes 12 calls.
 */
async function subscribedMidJune() {
  clock = HALF_JUNE;
  const { call, creator: owner } = await creator();
  const secretKey = `sk_test_rv${owner.id.replace(/-/g, "")}`;
  const settings = await call("PUT", "/api/usage/settings/stripe", {
    secret_key: secretKey,
    webhook_secret: WEBHOOK_SECRET,
  });
  expect(settings.status, settings.text).toBe(200);
  const stripe = new Stripe(secretKey, {
    host: fake.host,
    port: fake.port,
    protocol: "http",
    maxNetworkRetries: 0,
  });
  const { id: meterId } = await createMeter(call, {
    event_name: "calls",
    display_name: "Calls",
    aggregation_type: "count",
    unit_name: "calls",
    plan_limits: [{ plan_name: "pro", limit_value: 10, overage_price: 1 }],
  });
  const stripeCustomer = await stripe.customers.create({
    email: "ann@example.com",
  });
  expect(
    (
      await call("PUT", "/api/usage/customers/ann", {
        plan_name: "pro",
        stripe_customer_id: stripeCustomer.id,
      })
    ).status
  ).toBe(201);
  // Given: 15 calls on June 10, in ann's calendar-month period (no Stripe subscription yet).
  const early = await call(
    "POST",
    "/api/usage/track",
    Array.from({ length: 15 }, () => ({
      event_name: "calls",
      user_id: "ann",
      timestamp: "2026-06-10T10:00:00Z",
    }))
  );
  expect(early.status).toBe(200);

  // When: ann subscribes on June 15 at noon: Stripe's period (and so ann's) is June 15 12:00 → July 15 12:00.
  const subscription = (await stripe.subscriptions.create({
    customer: stripeCustomer.id,
    items: [{ price: "price_metered" }],
  })) as unknown as Record<string, any>;
  const start = new Date("2026-06-15T12:00:00Z");
  const end = new Date("2026-07-15T12:00:00Z");
  const object = subscriptionWithPeriod(subscription, start, end);
  const hook = await sendStripeWebhook(
    `${server.url}${settings.json.webhook_path}`,
    WEBHOOK_SECRET,
    stripeEvent("customer.subscription.created", object)
  );
  expect(hook).toMatchObject({ status: 200, json: { outcome: "applied" } });
  // And 12 calls now, in the Stripe period: 2 over the limit of 10.
  const now = await call(
    "POST",
    "/api/usage/track",
    Array.from({ length: 12 }, () => ({ event_name: "calls", user_id: "ann" }))
  );
  expect(now.status).toBe(200);

  return { call, meterId, start, end };
}

describe("revenue: overage so far agrees with the customer’s usage answer", () => {
  it("an hours duration meter: the revenue page and the overview owe, to the 9th decimal, what the customer’s usage answer owes", async () => {
    clock = HALF_JUNE;
    const { call } = await creator();
    // Given: GPU time billed per hour, 1 hour included on pro, then 1 per hour.
    await createMeter(call, {
      event_name: "gpu",
      display_name: "GPU time",
      aggregation_type: "duration",
      unit_name: "hours",
      plan_limits: [{ plan_name: "pro", limit_value: 1, overage_price: 1 }],
    });
    expect(
      (await call("PUT", "/api/usage/customers/lab", { plan_name: "pro" }))
        .status
    ).toBe(201);
    // When: a large customer runs 11,112 GPU-hours (40,003,200.000005399 seconds) this month.
    const tracked = await call("POST", "/api/usage/track", {
      event_name: "gpu",
      user_id: "lab",
      value: "40003200.000005399",
    });
    expect(tracked.status, tracked.text).toBe(201);

    // The exact overage: 40003200.000005399 / 3600 − 1 = 11111.00000000149972… hours → 11111.000000001 (half-even at 9 decimals).
    const usage = (await call("GET", "/api/usage/customers/lab/usage")).json;
    expect(usage.meters[0]).toMatchObject({
      overage_quantity: "11111.000000001",
      overage_amount: "11111.000000001",
    });

    // Then: the revenue page and the overview owe the same. They say 11111.000000002: the counter is
    // divided by 3600 in SQL at Postgres's default division scale (12 decimals for a quotient whose first
    // base-10000 digit group exceeds the divisor's: 11112.000000001500), then rounded half-even again to 9 decimals — a double rounding.
    const revenue = await trpcQuery(
      call,
      "revenue.overview",
      undefined as never
    );
    const insights = await trpcQuery(
      call,
      "insights.overview",
      undefined as never
    );
    expect(revenue.meters[0]).toMatchObject({
      quantity_so_far: usage.meters[0].overage_quantity,
      amount_so_far: usage.meters[0].overage_amount,
    });
    expect(revenue.totals.amount_so_far).toBe(usage.meters[0].overage_amount);
    expect(insights.overage.amount).toBe(usage.meters[0].overage_amount);
  });

  it("a customer who subscribes in Stripe mid-month: the revenue page prices their Stripe period, not also the calendar month they left", async () => {
    const { call, start, end, meterId } = await subscribedMidJune();

    // ann's usage answer: the Stripe period, 12 used, 2 over, 2 owed.
    const usage = (await call("GET", "/api/usage/customers/ann/usage")).json;
    expect(usage).toMatchObject({
      period_start: start.toISOString(),
      period_end: end.toISOString(),
    });
    expect(usage.meters[0]).toMatchObject({
      used: "12",
      overage_quantity: "2",
      overage_amount: "2",
    });

    // Then: the revenue page says what ann owes this period: 2 (README: "Revenue prices each
    // customer's current period"). It says 7: it also sums the June calendar-month counter
    // (15 calls, 5 over) because that window still contains "now" (window_start ≤ now < window_end),
    // though it is no longer ann's current period — and it projects both to their ends.
    const revenue = await trpcQuery(
      call,
      "revenue.overview",
      undefined as never
    );
    expect
      .soft(revenue.totals)
      .toMatchObject({ customers_in_overage: 1, amount_so_far: "2" });
    expect
      .soft(revenue.meters[0])
      .toMatchObject({ quantity_so_far: "2", amount_so_far: "2" });
    // The live overview's "overage so far" is the same figure.
    const insights = await trpcQuery(
      call,
      "insights.overview",
      undefined as never
    );
    expect.soft(insights.overage.amount).toBe("2");
    // Top users of this period list ann once, with her Stripe period's figures.
    const top = await trpcQuery(call, "customers.top", { meter_id: meterId, period: "current" });
    expect(top.customers.map((c: Record<string, string>) => [c.user_id, c.period_start, c.used])).toEqual([["ann", start.toISOString(), "12"]]);
  });

  it("what-if after a mid-month Stripe subscription: last period is the Stripe period only, the customer counted once", async () => {
    const { call, meterId } = await subscribedMidJune();
    // When: July 20, in ann's next Stripe period (July 15 12:00 → August 15 12:00).
    clock = new Date("2026-07-20T00:00:00Z");
    const previous = (
      await call("GET", "/api/usage/customers/ann/usage?period=previous")
    ).json;
    expect(previous).toMatchObject({
      period_start: "2026-06-15T12:00:00.000Z",
      period_end: "2026-07-15T12:00:00.000Z",
    });
    expect(previous.meters[0]).toMatchObject({
      used: "12",
      overage_amount: "2",
    });

    // Then: the what-if on pro's current terms (nothing changed) replays that period: one customer, 2 billed
    // (README: "on the last closed period's real usage"). It considers ann twice and bills 7: the June
    // calendar-month counter (15 calls, ended July 1) also passes isPreviousPeriod (it ends less than
    // 28 days before the current period's start), and nothing keeps one counter per customer.
    const whatIf = await trpcQuery(call, "revenue.whatIf", {
      meter_id: meterId,
      plan_name: "pro",
      limit_value: "10",
      overage_price: "1",
      hard_cap: false,
    });
    expect.soft(whatIf.customers_considered).toBe(1);
    expect
      .soft(whatIf.before)
      .toMatchObject({
        revenue: "2",
        overage_quantity: "2",
        customers_in_overage: 1,
      });
    // A lower limit of 5 would bill ann 7 more in that period (12 − 5), not 17 (+ 15 − 5 of June's calendar month).
    const lower = await trpcQuery(call, "revenue.whatIf", {
      meter_id: meterId,
      plan_name: "pro",
      limit_value: "5",
      overage_price: "1",
      hard_cap: false,
    });
    expect
      .soft(lower.after)
      .toMatchObject({ revenue: "7", customers_in_overage: 1 });
    expect
      .soft(lower.affected.map((r: { user_id: string }) => r.user_id))
      .toEqual(["ann"]);
  });
});

describe("overview: a customer whose billing anchor moved is counted once", () => {
  it("usage totals, customers and limit standing count ann's Stripe period only, not also the calendar month she left", async () => {
    const { call, meterId } = await subscribedMidJune();
    // ann's usage answer this period: 12 calls, over pro's limit of 10.
    const usage = (await call("GET", "/api/usage/customers/ann/usage")).json;
    expect(usage.meters[0]).toMatchObject({ used: "12" });

    // Then: the overview (and the Meters page, which shows its figures) says 12 calls by one customer,
    // one customer over the limit — not 27 calls (15 of June's calendar-month counter, still
    // containing "now", plus 12) by two customers.
    const overview = await trpcQuery(call, "insights.overview", undefined as never);
    expect(overview.active_customers).toBe(1);
    expect(overview.meters).toEqual([
      expect.objectContaining({ meter_id: meterId, used: usage.meters[0].used, customers: 1, over_limit: 1, near_limit: 0 }),
    ]);
    // "Needs attention" lists ann once, with her Stripe period's usage.
    expect(overview.attention.map((a: Record<string, string>) => [a.user_id, a.used])).toEqual([["ann", "12"]]);
  });
});
