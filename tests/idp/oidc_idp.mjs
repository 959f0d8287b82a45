#!/usr/bin/env node
// The test company identity provider: panva's `oidc-provider` (a certified OpenID Provider, not a
// mock) with one confidential client, the federated sign-in tests' upstream IdP.
//
//   node tests/idp/oidc_idp.mjs --port 0 --client-id ID --client-secret SECRET \
//        --redirect-uri URI [--redirect-uri URI2 ...]
//
// Listens on 127.0.0.1 (port 0: ephemeral) and prints exactly one stdout line once it accepts:
//   listening on http://127.0.0.1:PORT
// That URL is the issuer (discovery at /.well-known/openid-configuration). Logs go to stderr.
//
// Modules come from $PORTCULLIS_TEST_NODE_MODULES (default <repo>/target/test-clients/node/
// node_modules, installed by scripts/install-test-clients.sh): oidc-provider and jose.
//
// OIDC: code flow only, PKCE (S256) required, client_secret_basic, RS256 ID tokens whose claims
// (sub, email, email_verified, name, tid) are in the ID token itself. Accounts: the login name is
// the subject; any non-empty password is accepted. The login page is plain HTML without
// JavaScript; consent is granted without a page (a pre-approved company app).
//
// Test control endpoints (plain JSON, not OIDC):
//   POST /_faults/next-id-token {"kind": "wrong_nonce"|"wrong_aud"|"foreign_key"|"expired"|"wrong_iss"}
//        the next successful token response carries a tampered ID token (armed once, used once)
//   GET  /_control/token-requests   one object per token endpoint request (never secrets or codes)
//   GET  /_control/logins           the login names that signed in
import { createRequire } from "node:module";
import http from "node:http";
import path from "node:path";
import querystring from "node:querystring";
import { randomBytes } from "node:crypto";
import { fileURLToPath, pathToFileURL } from "node:url";

// oidc-provider prints its notices with console.info (stdout); stdout carries only the one line.
console.log = console.info = (...args) => console.error(...args);
const log = (...args) => console.error("oidc_idp:", ...args);

// Installed first, so that a signal during start-up ends the process too.
let server = null;
let stopping = false;
function stop(signal) {
  if (stopping) return;
  stopping = true;
  log(`${signal}: shutting down`);
  if (!server?.listening) process.exit(0);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on("SIGTERM", () => stop("SIGTERM"));
process.on("SIGINT", () => stop("SIGINT"));

const HERE = path.dirname(fileURLToPath(import.meta.url));
const NODE_MODULES =
  process.env.PORTCULLIS_TEST_NODE_MODULES || path.join(HERE, "..", "..", "target", "test-clients", "node", "node_modules");
const require = createRequire(path.join(NODE_MODULES, "noop.js"));
// Both packages are ESM; resolve them from NODE_MODULES, then import() the absolute file. jose is
// resolved from oidc-provider's own location so that both use one copy (the key objects match).
const providerPath = require.resolve("oidc-provider");
const josePath = createRequire(providerPath).resolve("jose");
const { default: Provider } = await import(pathToFileURL(providerPath).href);
const jose = await import(pathToFileURL(josePath).href);

// ------------------------------------------------------------------ arguments
function parseArgs(argv) {
  const opts = { port: 0, clientId: null, clientSecret: null, redirectUris: [] };
  for (let i = 0; i < argv.length; i++) {
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${argv[i]} needs a value`);
      return argv[++i];
    };
    switch (argv[i]) {
      case "--port": opts.port = Number(value()); break;
      case "--client-id": opts.clientId = value(); break;
      case "--client-secret": opts.clientSecret = value(); break;
      case "--redirect-uri": opts.redirectUris.push(value()); break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (!opts.clientId || !opts.clientSecret || opts.redirectUris.length === 0 || !Number.isInteger(opts.port)) {
    throw new Error("usage: oidc_idp.mjs --port N --client-id ID --client-secret SECRET --redirect-uri URI [...]");
  }
  return opts;
}
const opts = parseArgs(process.argv.slice(2));

// ------------------------------------------------------------------ accounts
const ACCOUNTS = {
  alice: { email: "alice@example.com", name: "Alice", tid: "acme" },
  bob: { email: "bob@example.com", name: "Bob", tid: "acme" },
  mallory: { email: "mallory@other.test", name: "Mallory", tid: "evil" },
};
function accountClaims(login) {
  const a = ACCOUNTS[login] || { email: `${login}@example.com`, name: login, tid: "acme" };
  return { sub: login, email: a.email, email_verified: true, name: a.name, tid: a.tid };
}

// ------------------------------------------------------------------ state seen by the tests
const tokenRequests = [];
const logins = [];
let armedFault = null;
const FAULT_KINDS = new Set(["wrong_nonce", "wrong_aud", "foreign_key", "expired", "wrong_iss"]);

// ------------------------------------------------------------------ keys
const { privateKey } = await jose.generateKeyPair("RS256", { extractable: true });
const signingJwk = await jose.exportJWK(privateKey);
signingJwk.kid = await jose.calculateJwkThumbprint(signingJwk);
signingJwk.alg = "RS256";
signingJwk.use = "sig";

async function tamperIdToken(idToken, kind, issuer) {
  const header = jose.decodeProtectedHeader(idToken);
  const claims = jose.decodeJwt(idToken);
  const now = Math.floor(Date.now() / 1000);
  let key = privateKey;
  switch (kind) {
    case "wrong_nonce": claims.nonce = `${claims.nonce ?? ""}tampered-${randomBytes(6).toString("hex")}`; break;
    case "wrong_aud": claims.aud = "someone-else"; break;
    case "expired": claims.iat = now - 7200; claims.exp = now - 3600; if (claims.auth_time) claims.auth_time = now - 7200; break;
    case "wrong_iss": claims.iss = `${issuer}/not-the-issuer`; break;
    case "foreign_key": key = (await jose.generateKeyPair("RS256")).privateKey; break;
  }
  // Same protected header (alg, kid, typ if any) as the real token; only the claim or the key differs.
  return new jose.CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
    .setProtectedHeader(header)
    .sign(key);
}

// ------------------------------------------------------------------ small HTTP helpers
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function readBody(ctx, limit = 64 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += chunk.length;
    if (size > limit) ctx.throw(413, "body too large");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title></head>
<body><h1>${esc(title)}</h1>
${body}
</body></html>
`;
}

function loginPage(uid, clientId, error) {
  return page("Example Company Sign-in", `<p>Sign in to continue to ${esc(clientId)}.</p>
${error ? `<p class="error">${esc(error)}</p>` : ""}
<form method="post" action="/interaction/${esc(uid)}/login">
<label>Login <input type="text" name="login" autocomplete="username" autofocus></label>
<label>Password <input type="password" name="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${esc(uid)}/abort">
<button type="submit">Cancel</button>
</form>`);
}

function clientAuthOf(ctx, body) {
  if (/^basic /i.test(ctx.get("authorization"))) return "basic";
  if (body && "client_secret" in body) return "post";
  if (body && "client_assertion" in body) return "jwt";
  return "none";
}

// ------------------------------------------------------------------ provider
server = http.createServer();
await new Promise((resolve, reject) => {
  server.once("error", reject);
  server.listen(opts.port, "127.0.0.1", resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: opts.clientId,
    client_secret: opts.clientSecret,
    // A web (default application_type) client: oidc-provider only refuses http / localhost
    // redirect URIs for web clients that use the implicit grant, so plain http loopback URIs such
    // as http://127.0.0.1:PORT/authorize/federated/callback register as they are, and are matched
    // exactly (no loopback port leniency; that is only for native clients).
    redirect_uris: opts.redirectUris,
    grant_types: ["authorization_code"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
    id_token_signed_response_alg: "RS256",
  }],
  jwks: { keys: [signingJwk] },
  // By default oidc-provider only requires PKCE of public clients; here every client must use it
  // (S256 is the only method oidc-provider 9 supports at all).
  pkce: { required: () => true },
  responseTypes: ["code"],
  scopes: ["openid", "email", "profile"],
  claims: {
    acr: null, auth_time: null, iss: null, sid: null,
    openid: ["sub"],
    email: ["email", "email_verified"],
    profile: ["name", "tid"],
  },
  // Put the scope claims in the ID token itself (the default leaves them to userinfo when an
  // access token is issued too).
  conformIdTokenClaims: false,
  async findAccount(_ctx, sub) {
    return { accountId: sub, async claims() { return accountClaims(sub); } };
  },
  cookies: { keys: [randomBytes(32).toString("base64url")] },
  features: {
    devInteractions: { enabled: false },
    // Off so that the token response keeps a plain bearer access token and nothing asks for DPoP.
    dPoP: { enabled: false },
  },
  interactions: { url: async (_ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: {
    AccessToken: 600, AuthorizationCode: 120, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600,
  },
  async renderError(ctx, out, error) {
    log("error page:", out.error, out.error_description, error?.message ?? "");
    ctx.type = "html";
    ctx.body = page("Sign-in error", Object.entries(out).map(([k, v]) => `<p>${esc(k)}: ${esc(v)}</p>`).join("\n"));
  },
});
provider.on("server_error", (_ctx, err) => log("server_error:", err));
provider.on("grant.error", (_ctx, err) => log("grant.error:", err.message, err.error_description ?? ""));
provider.on("authorization.error", (_ctx, err) => log("authorization.error:", err.message, err.error_description ?? ""));

const tokenPath = provider.pathFor("token");

// Control endpoints, interactions and token-response interception: Koa middleware, which
// provider.use() inserts before oidc-provider's own routes.
provider.use(async (ctx, next) => {
  if (ctx.path === "/_faults/next-id-token" && ctx.method === "POST") {
    let kind;
    try { kind = JSON.parse(await readBody(ctx)).kind; } catch { kind = undefined; }
    if (!FAULT_KINDS.has(kind)) {
      ctx.status = 400;
      ctx.body = { error: `kind must be one of ${[...FAULT_KINDS].join(", ")}` };
      return;
    }
    armedFault = kind;
    log("armed fault", kind);
    ctx.body = { armed: kind };
    return;
  }
  if (ctx.path === "/_control/token-requests" && ctx.method === "GET") { ctx.body = tokenRequests; return; }
  if (ctx.path === "/_control/logins" && ctx.method === "GET") { ctx.body = logins; return; }

  const m = ctx.path.match(/^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|abort))?$/);
  if (m) { await interaction(ctx, m[1], m[2]); return; }

  if (ctx.path === tokenPath && ctx.method === "POST") {
    // oidc-provider parses the form into ctx.oidc.body; read it after the endpoint ran.
    await next();
    let body = null;
    try { body = ctx.oidc.body ?? null; } catch { body = null; }
    const entry = {
      fields: body ? Object.keys(body) : null,
      grant_type: body?.grant_type ?? null,
      redirect_uri: body?.redirect_uri ?? null,
      code_verifier: Boolean(body && "code_verifier" in body),
      client_auth: clientAuthOf(ctx, body),
      status: ctx.status,
    };
    tokenRequests.push(entry);
    log("token request", JSON.stringify(entry));
    // ctx.body is still the response object here: replacing a field lets Koa serialize it and set
    // Content-Length afterwards, so nothing is patched at the byte level.
    if (armedFault && ctx.status === 200 && ctx.body && typeof ctx.body === "object" && ctx.body.id_token) {
      const kind = armedFault;
      armedFault = null;
      ctx.body = { ...ctx.body, id_token: await tamperIdToken(ctx.body.id_token, kind, issuer) };
      log("tampered id_token:", kind);
    }
    return;
  }
  await next();
});

async function interaction(ctx, uid, action) {
  let details;
  try {
    details = await provider.interactionDetails(ctx.req, ctx.res);
  } catch (err) {
    ctx.status = 400;
    ctx.type = "html";
    ctx.body = page("Sign-in error", `<p>${esc(err.message)}</p>`);
    return;
  }
  if (details.uid !== uid) {
    ctx.status = 400;
    ctx.type = "html";
    ctx.body = page("Sign-in error", "<p>interaction mismatch</p>");
    return;
  }
  const { prompt, params } = details;
  const finish = async (result) => {
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(returnTo);
  };

  if (action === undefined && ctx.method === "GET") {
    if (prompt.name === "login") {
      ctx.type = "html";
      ctx.body = loginPage(uid, params.client_id, null);
      return;
    }
    if (prompt.name === "consent") {
      // Pre-approved company app: grant what is asked for, show nothing.
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
      const d = prompt.details;
      if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(" "));
      if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {})) {
        grant.addResourceScope(indicator, scopes.join(" "));
      }
      const grantId = await grant.save();
      await finish({ consent: details.grantId ? {} : { grantId } });
      return;
    }
    ctx.status = 400;
    ctx.body = page("Sign-in error", `<p>unsupported prompt ${esc(prompt.name)}</p>`);
    return;
  }
  if (ctx.method !== "POST") {
    ctx.status = 405;
    return;
  }
  const form = querystring.parse(await readBody(ctx));
  if (action === "abort") {
    await finish({ error: "access_denied", error_description: "End-User aborted interaction" });
    return;
  }
  if (action === "login" && prompt.name === "login") {
    const login = typeof form.login === "string" ? form.login.trim() : "";
    const password = typeof form.password === "string" ? form.password : "";
    if (!login || !password) {
      ctx.status = 400;
      ctx.type = "html";
      ctx.body = loginPage(uid, params.client_id, "Enter a login and a password.");
      return;
    }
    logins.push(login);
    log("signed in:", login);
    await finish({ login: { accountId: login } });
    return;
  }
  ctx.status = 400;
  ctx.type = "html";
  ctx.body = page("Sign-in error", "<p>unexpected form submission</p>");
}

// ------------------------------------------------------------------ serve
server.on("request", provider.callback());
process.stdout.write(`listening on ${issuer}\n`);
log("issuer", issuer, "client", opts.clientId, "redirect_uris", opts.redirectUris.join(" "));

