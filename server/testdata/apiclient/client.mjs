// A client of the Ringmaster API generated from its /openapi.json: the
// types openapi-typescript makes of the document (./api.d.ts, written
// beside this file by server/client_test.go) with openapi-fetch's client.
// tsc checks this file against those types before node runs it, so a path,
// parameter or field the document lacks fails the test as surely as a
// wrong answer from the server.
//
// RINGMASTER_URL is the server, RINGMASTER_TOKEN an administrator's token
// over the estate of server_test.go's fixture: three organisations (RA,
// RB, RC) of four devices each, the campaign "national" running over all
// of them with its pilot's three failures, the alert HSA-1.
import createClient from "openapi-fetch";

/** @typedef {import("./api.js").paths} paths */

const base = process.env.RINGMASTER_URL;
const token = process.env.RINGMASTER_TOKEN;
if (!base || !token) {
  throw new Error("set RINGMASTER_URL and RINGMASTER_TOKEN");
}

/**
 * @param {string} secret
 * @returns {import("openapi-fetch").Client<paths>}
 */
function clientFor(secret) {
  return createClient({ baseUrl: base, headers: { Authorization: `Bearer ${secret}` } });
}

const client = clientFor(token);
let calls = 0;

/**
 * ok returns a call's data, or throws with the problem document it got.
 * @template T
 * @param {string} what
 * @param {{ data?: T, error?: unknown, response: Response }} r
 * @returns {T}
 */
function ok(what, r) {
  calls++;
  if (r.error !== undefined || r.data === undefined) {
    throw new Error(`${what}: ${r.response.status} ${JSON.stringify(r.error)}`);
  }
  return r.data;
}

/**
 * json is a report's JSON: the document gives its 200 response in JSON or
 * CSV, so the client's type is either until the JSON is told apart.
 * @template T
 * @param {string} what
 * @param {T | string} v
 * @returns {T}
 */
function json(what, v) {
  if (typeof v === "string") {
    throw new Error(`${what}: text where JSON was asked for: ${v.slice(0, 200)}`);
  }
  return v;
}

/**
 * @param {boolean} cond
 * @param {string} what
 * @param {unknown} got
 */
function check(cond, what, got) {
  if (!cond) {
    throw new Error(`${what}: got ${JSON.stringify(got)}`);
  }
}

const me = ok("whoami", await client.GET("/api/v1/whoami"));
check(me.subject === "client" && me.role === "admin" && me.scope === "estate" && me.all && me.via === "token", "whoami", me);

const orgs = ok("orgs-list", await client.GET("/api/v1/orgs")).items;
check(orgs.map((o) => o.code).join() === "RA,RB,RC" && orgs.every((o) => o.devices === 4), "orgs-list", orgs);

const list = ok("campaigns-list", await client.GET("/api/v1/campaigns")).items;
const listed = list.find((c) => c.name === "national");
check(listed !== undefined && listed.status === "running" && listed.devices === 12, "campaigns-list: national", list);

const national = ok("campaign-show", await client.GET("/api/v1/campaigns/{name}", { params: { path: { name: "national" } } }));
check(national.waves.map((w) => w.name).join() === "pilot,rest" && national.states["failed"] === 3, "campaign-show", national);
// A wave not yet started has no start: null, as the document says.
check(national.waves[1].started_at === null, "campaign-show: the second wave's start", national.waves[1]);

const card = json("report-scorecard", ok("report-scorecard", await client.GET("/api/v1/reports/scorecard", { params: { query: { sort: "supported" } } })));
check(card.organisations.length === 3 && card.total.devices === 12 && card.alerts.includes("HSA-1"), "report-scorecard", card);

const csv = ok("report-scorecard as CSV", await client.GET("/api/v1/reports/scorecard", { params: { query: { format: "csv" } }, parseAs: "text" }));
check(csv.split("\n").filter((l) => /^R[ABC],/.test(l)).length === 3, "report-scorecard as CSV", csv);

const paused = ok("campaign-pause", await client.POST("/api/v1/campaigns/{name}/pause", { params: { path: { name: "national" } } }));
check(paused.campaign === "national" && paused.before === "running" && paused.status === "paused", "campaign-pause", paused);

const created = ok("token-create", await client.POST("/api/v1/tokens", { body: { subject: "ra-dashboard", role: "viewer", scope: "org:RA" } }));
check(created.secret.startsWith("rmt_") && created.scope === "org:RA" && created.role === "viewer", "token-create", { ...created, secret: "…" });

const ra = ok("whoami with the new token", await clientFor(created.secret).GET("/api/v1/whoami"));
check(!ra.all && ra.orgs.join() === "RA" && ra.subject === "ra-dashboard", "whoami with the new token", ra);

// An error is the problem document the document describes.
const missing = await client.GET("/api/v1/campaigns/{name}", { params: { path: { name: "nope" } } });
calls++;
check(missing.response.status === 404 && missing.error?.status === 404 && missing.error.title === "Not Found", "campaign-show of no campaign", missing.error);

console.log(`apiclient: ${calls} calls as the document describes them`);
