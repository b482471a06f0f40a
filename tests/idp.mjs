// A real OpenID Connect provider for the tests: oidc-provider 9 (OpenID-certified), pinned in
// scripts/peers/package.json, started by tests/idp.py.
//
// Usage: node idp.mjs CONFIG_JSON   (oidc-provider resolves from $IDP_NODE_MODULES)
//
// CONFIG_JSON: {
//   "port": 1234,                       loopback port; the issuer is http://127.0.0.1:PORT
//   "admin_token": "…",                 bearer token of the /_test endpoints
//   "clients": [oidc-provider client metadata, …],
//   "users": {"LOGIN": {"password", "sub", "email", "name", "groups": […]}, …},
//   "resources": {"RESOURCE_URL": {"scope": "mcp …", "ttl": 300, "alg": "RS256",
//                                  "format": "jwt" | "opaque"}, …},
//   "token_delays_ms": {"refresh_token": 1000}   optional: how long the token endpoint takes to
//                                                answer a grant type (a slow authorization server)
// }
//
// What it adds to oidc-provider: a sign-in form of its own at /interaction/UID (login, password
// and the `amr` the sign-in claims, e.g. "pwd otp" for MFA) that a test posts without a browser;
// consent granted at once (an IdP's first-party consent is not what the tests exercise); JWT
// access tokens for every configured resource indicator carrying email, name, groups, amr and
// auth_time (opaque access tokens instead for a resource whose "format" is "opaque": the same
// claims are then in the answer of the introspection endpoint, /token/introspection, to any
// confidential client); refresh tokens for every client allowed the grant. Test-only endpoints, behind the
// admin token: PUT /_test/users/LOGIN replaces a user's claims (groups move), PUT
// /_test/resources/URL (URL-encoded) adds a resource indicator, PUT /_test/exchange
// {"refuse": true|false} makes token exchanges fail (invalid_grant) or work again, GET
// /_test/stats counts the JWKS fetches, the token exchange requests and the token requests per
// grant type (answered or refused).
//
// RFC 8693 token exchange (oidc-provider has none built in; registered with registerGrantType):
// a client allowed grant type urn:ietf:params:oauth:grant-type:token-exchange sends a
// subject_token (an access token this IdP issued: a JWT, verified here: signature, issuer,
// expiry, `typ` at+jwt, a known `sub`; or an opaque one it still holds as active) with `resource` (a configured resource indicator) or
// `audience` (the same), and gets a JWT access token for that resource whose `sub` is the
// subject's, `act` {sub: the client}, the person's claims, and the resource's scopes.
import { generateKeyPairSync, randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [configPath] = process.argv.slice(2);
const modules = process.env.IDP_NODE_MODULES;
if (!configPath || !modules) {
  console.error("usage: IDP_NODE_MODULES=… node idp.mjs CONFIG_JSON");
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, "utf8"));
const { default: Provider, errors } = await import(
  pathToFileURL(path.join(modules, "oidc-provider", "lib", "index.js")).href
);
const { createLocalJWKSet, jwtVerify } = await import(
  pathToFileURL(path.join(modules, "jose", "dist", "webapi", "index.js")).href
);

const issuer = `http://127.0.0.1:${config.port}`;
const users = new Map(Object.entries(config.users));
const stats = { jwks: 0, exchanges: 0, tokens: {} };
const tokenDelays = config.token_delays_ms ?? {};
const exchange = { refuse: false };
const TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const SUBJECT_TYPES = new Set([
  "urn:ietf:params:oauth:token-type:access_token",
  "urn:ietf:params:oauth:token-type:jwt",
]);

function signingKey(type, options, alg) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: "jwk" }), kid: `${alg}-${randomUUID()}`, alg, use: "sig" };
}

function userBySub(sub) {
  for (const [login, user] of users) {
    if ((user.sub ?? login) === sub) return { login, ...user, sub: user.sub ?? login };
  }
  return undefined;
}

// The claims of a person, read at every token so that a change (PUT /_test/users) shows at refresh.
function personClaims(user) {
  return { email: user.email, email_verified: true, name: user.name, groups: user.groups ?? [] };
}

async function resourceServerInfo(_ctx, resourceIndicator, _client) {
  const resource = config.resources[resourceIndicator];
  if (!resource) throw new errors.InvalidTarget();
  return {
    scope: resource.scope ?? "mcp",
    audience: resourceIndicator,
    accessTokenTTL: resource.ttl ?? 300,
    ...(resource.format === "opaque"
      ? { accessTokenFormat: "opaque" }
      : { accessTokenFormat: "jwt", jwt: { sign: { alg: resource.alg ?? "RS256" } } }),
  };
}

async function extraTokenClaims(ctx, token) {
  if (token.kind !== "AccessToken") return undefined;
  const user = userBySub(token.accountId);
  if (!user) return undefined;
  if (token.gty === TOKEN_EXCHANGE) {
    return { ...personClaims(user), act: { sub: token.clientId } };
  }
  const source = ctx.oidc.entities.AuthorizationCode ?? ctx.oidc.entities.RefreshToken;
  return {
    ...personClaims(user),
    amr: source?.amr ?? ["pwd"],
    auth_time: source?.authTime,
  };
}

const signingKeys = [
  signingKey("rsa", { modulusLength: 2048 }, "RS256"),
  signingKey("ec", { namedCurve: "P-256" }, "ES256"),
];
const PRIVATE_PARTS = new Set(["d", "p", "q", "dp", "dq", "qi"]);
const publicKeys = createLocalJWKSet({
  keys: signingKeys.map((key) =>
    Object.fromEntries(Object.entries(key).filter(([name]) => !PRIVATE_PARTS.has(name)))),
});

const provider = new Provider(issuer, {
  clients: config.clients,
  jwks: { keys: signingKeys },
  cookies: { keys: [randomBytes(32).toString("hex")] },
  claims: {
    // amr and auth_time in the ID token: a broker in front (Giru) passes the sign-in's on
    openid: ["sub", "amr", "auth_time"],
    email: ["email", "email_verified"],
    profile: ["name"],
    groups: ["groups"],
  },
  scopes: ["openid", "offline_access", "email", "profile", "groups"],
  conformIdTokenClaims: false, // the ID token carries the claims of the granted scopes
  async findAccount(_ctx, sub) {
    const user = userBySub(sub);
    if (!user) return undefined;
    return { accountId: sub, claims: async () => ({ sub, ...personClaims(user) }) };
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (_ctx, _client, oneOf) => oneOf,
      useGrantedResource: async () => true,
      getResourceServerInfo: resourceServerInfo,
    },
  },
  pkce: { required: () => true },
  extraTokenClaims,
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed("refresh_token"),
  ttl: { IdToken: 3600, AuthorizationCode: 60, Interaction: 600, Session: 3600, Grant: 3600 },
});
provider.on("server_error", (_ctx, err) => console.error("server_error", err));

// --- RFC 8693 token exchange ------------------------------------------------------------------

// The shape oidc-provider gives its tokens' resource servers (lib/helpers/resource_server.js).
class ExchangeResource {
  constructor(identifier, info) {
    Object.assign(this, info);
    this._identifier = identifier;
  }
  get scopes() { return new Set(this.scope?.split(" ")); }
  identifier() { return this._identifier; }
}

async function subjectOf(subjectToken) {
  try {
    const { payload } = await jwtVerify(subjectToken, publicKeys, { issuer, typ: "at+jwt" });
    return typeof payload.sub === "string" ? userBySub(payload.sub) : undefined;
  } catch {
    // an opaque access token of this IdP (a refresh without a resource gives one): still active
    const token = await provider.AccessToken.find(subjectToken).catch(() => undefined);
    return token && !token.isExpired ? userBySub(token.accountId) : undefined;
  }
}

async function tokenExchange(ctx) {
  stats.exchanges += 1;
  const { client, params } = ctx.oidc;
  if (exchange.refuse) throw new errors.InvalidGrant("token exchange refused (test switch)");
  if (!params.subject_token) throw new errors.InvalidRequest("missing subject_token");
  if (!SUBJECT_TYPES.has(params.subject_token_type)) {
    throw new errors.InvalidRequest("unsupported subject_token_type");
  }
  const user = await subjectOf(params.subject_token);
  if (!user) throw new errors.InvalidGrant("subject_token is not an active token of this IdP");
  const target = params.resource ?? params.audience;
  if (!target) throw new errors.InvalidTarget("resource or audience is required");
  const info = await resourceServerInfo(ctx, target, client);
  const granted = new Set(info.scope.split(" "));
  const asked = params.scope ? params.scope.split(" ") : [...granted];
  const token = new provider.AccessToken({
    accountId: user.sub,
    client,
    gty: TOKEN_EXCHANGE,
    scope: asked.filter((scope) => granted.has(scope)).join(" ") || undefined,
  });
  token.resourceServer = new ExchangeResource(target, info);
  ctx.oidc.entity("AccessToken", token);
  const value = await token.save();
  ctx.body = {
    access_token: value,
    issued_token_type: "urn:ietf:params:oauth:token-type:access_token",
    token_type: "Bearer",
    expires_in: token.expiration,
    scope: token.scope,
  };
}

provider.registerGrantType(
  TOKEN_EXCHANGE,
  tokenExchange,
  ["subject_token", "subject_token_type", "resource", "audience", "scope",
    "requested_token_type", "actor_token", "actor_token_type"],
);

// Token requests are counted per grant type, and answered after that grant type's delay.
provider.use(async (ctx, next) => {
  if (ctx.path !== "/token" || ctx.method !== "POST") return next();
  try {
    await next();
  } finally {
    const grantType = String(ctx.oidc?.params?.grant_type ?? "unknown");
    stats.tokens[grantType] = (stats.tokens[grantType] ?? 0) + 1;
    const delay = Number(tokenDelays[grantType] ?? 0);
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
  }
});

// --- the sign-in form -------------------------------------------------------------------------

const escape = (text) =>
  String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, clientId, error) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head>
<body><main><h1>Sign in to the test IdP</h1><p>for ${escape(clientId)}</p>
${error ? `<p role="alert">${escape(error)}</p>` : ""}
<form method="post" action="/interaction/${escape(uid)}/login">
<label>Login <input name="login" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<label>Methods (amr) <input name="amr" value="pwd"></label>
<button type="submit">Sign in</button></form></main></body></html>`;
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

async function grantEverything(details, session, params, grantId) {
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(" "));
  if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
  for (const [indicator, scope] of Object.entries(details.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scope.join(" "));
  }
  return grant.save();
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error("interaction uid mismatch");
  const { prompt, params, session, grantId } = details;
  if (prompt.name === "consent") {
    const id = await grantEverything(prompt.details, session, params, grantId);
    return provider.interactionFinished(req, res, { consent: { grantId: id } });
  }
  if (action === undefined) {
    return send(res, 200, "text/html; charset=utf-8", loginPage(uid, params.client_id));
  }
  const form = await readForm(req);
  const user = users.get(form.get("login") ?? "");
  if (!user || user.password !== form.get("password")) {
    return send(res, 200, "text/html; charset=utf-8", loginPage(uid, params.client_id, "Wrong login or password"));
  }
  const amr = (form.get("amr") || "pwd").split(/\s+/).filter(Boolean);
  const login = { accountId: user.sub ?? form.get("login"), amr };
  return provider.interactionFinished(req, res, { login }, { mergeWithLastSubmission: false });
}

// --- test endpoints -----------------------------------------------------------------------------

function send(res, status, type, body) {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
  res.end(body);
}

async function testEndpoint(req, res, pathname) {
  if (req.headers.authorization !== `Bearer ${config.admin_token}`) {
    return send(res, 401, "application/json", '{"error":"unauthorized"}');
  }
  if (pathname === "/_test/stats" && req.method === "GET") {
    return send(res, 200, "application/json", JSON.stringify(stats));
  }
  if (pathname === "/_test/exchange" && req.method === "PUT") {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    exchange.refuse = Boolean(JSON.parse(Buffer.concat(chunks).toString("utf8")).refuse);
    return send(res, 204, "application/json", "");
  }
  const match = pathname.match(/^\/_test\/(users|resources)\/([^/]+)$/);
  if (match && req.method === "PUT") {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const document = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    const key = decodeURIComponent(match[2]);
    if (match[1] === "users") users.set(key, document);
    else config.resources[key] = document;
    return send(res, 204, "application/json", "");
  }
  return send(res, 404, "application/json", '{"error":"not_found"}');
}

const handle = provider.callback();
const server = http.createServer(async (req, res) => {
  const { pathname } = new URL(req.url, issuer);
  try {
    if (pathname.startsWith("/_test/")) return await testEndpoint(req, res, pathname);
    const match = pathname.match(/^\/interaction\/([^/]+)(?:\/(login))?$/);
    if (match) return await interaction(req, res, match[1], match[2]);
    if (pathname === "/jwks") stats.jwks += 1;
    return handle(req, res);
  } catch (err) {
    console.error("idp error", err);
    if (!res.headersSent) send(res, 500, "text/plain", String(err?.message ?? err));
  }
});
server.listen(config.port, "127.0.0.1", () => console.log(`idp listening on ${issuer}`));
const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
