// A real OpenID provider (panva's certified oidc-provider) configured for the end-to-end suite.
//
// Usage: node provider.mjs [--access-token-ttl SECONDS] [--strict-offline-access]
// Listens on 127.0.0.1 on a free port and prints "ISSUER <url>" on stdout once ready. It
// exits by itself when its stdin closes, so a test run that dies never leaves it behind.
//
// Enabled: dynamic client registration, PKCE (required for every authorization request),
// refresh-token rotation, resource indicators with audience-restricted JWT access tokens,
// the device flow, client credentials, revocation, introspection, and the built-in
// development login and consent pages ("devInteractions") that a real browser clicks through.
//
// Test-only endpoints under /_test/ (the provider never sees them):
//   GET  /_test/events          what happened, in order (token grants, registrations, revocations)
//   GET  /_test/refresh-tokens  the refresh tokens the provider holds, with their state
//   POST /_test/revoke-refresh-tokens  destroy every refresh token, as an administrator would

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';

import { Provider, errors } from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    'access-token-ttl': { type: 'string', default: '600' },
    'strict-offline-access': { type: 'boolean', default: false },
  },
});
const accessTokenTTL = Number(args['access-token-ttl']);

const PUBLIC_CLIENT = 'e2e-desktop';
const SERVICE_CLIENT = 'e2e-service';
const SERVICE_SECRET = 'e2e-service-secret-0123456789abcdef';
const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';

const events = [];
const refreshTokens = new Map(); // jti -> { jti, clientId, grantId, state }

function record(event, fields = {}) {
  events.push({ event, at: Date.now() / 1000, ...fields });
}

// Any resource on this machine's loopback is a resource server whose tokens are JWTs bound to
// it: the upstream checks the audience, so a token for another resource is useless there.
function resourceServerInfo(_ctx, resourceIndicator) {
  const url = new URL(resourceIndicator);
  if (url.protocol !== 'http:' || url.hostname !== '127.0.0.1') {
    throw new errors.InvalidTarget('only loopback resources are served here');
  }
  return {
    scope: 'mcp',
    audience: resourceIndicator,
    accessTokenTTL,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'RS256' } },
  };
}

function signingKeys() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { keys: [{ ...jwk, kid: randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256' }] };
}

function configuration() {
  return {
    clients: [
      {
        client_id: PUBLIC_CLIENT,
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        // A native client's loopback redirect matches on any port (RFC 8252 §7.3).
        redirect_uris: ['http://127.0.0.1/callback'],
        grant_types: ['authorization_code', 'refresh_token', DEVICE_CODE],
        response_types: ['code'],
      },
      {
        client_id: SERVICE_CLIENT,
        client_secret: SERVICE_SECRET,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      },
    ],
    jwks: signingKeys(),
    cookies: { keys: [randomBytes(32).toString('hex')] },
    findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
    scopes: ['openid', 'offline_access', 'mcp'],
    pkce: { required: () => true },
    rotateRefreshToken: true,
    // oidc-provider drops offline_access from front-channel requests without prompt=consent
    // (OIDC Core §11), and by default issues refresh tokens only for offline_access. Like
    // many deployments, issue them to every client registered for the refresh_token grant,
    // unless --strict-offline-access asks for oidc-provider's own default.
    ...(args['strict-offline-access']
      ? {}
      : { issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token') }),
    features: {
      devInteractions: { enabled: true },
      registration: { enabled: true },
      deviceFlow: { enabled: true },
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: (_ctx, _client, oneOf) => oneOf,
        useGrantedResource: () => true,
        getResourceServerInfo: resourceServerInfo,
      },
    },
    ttl: {
      DeviceCode: 300,
      RefreshToken: 3600,
      Grant: 3600,
      Session: 3600,
      Interaction: 600,
    },
  };
}

function observe(provider) {
  provider.on('grant.success', (ctx) =>
    record('grant.success', {
      grant_type: ctx.oidc.params.grant_type,
      client_id: ctx.oidc.client?.clientId,
    }),
  );
  provider.on('grant.error', (ctx, error) =>
    record('grant.error', {
      grant_type: ctx.oidc.params?.grant_type,
      client_id: ctx.oidc.client?.clientId,
      error: error.error,
      error_description: error.error_description,
    }),
  );
  provider.on('registration_create.success', (ctx, client) =>
    record('registration_create.success', {
      client_id: client.clientId,
      grant_types: client.grantTypes,
      application_type: client.applicationType,
      token_endpoint_auth_method: client.tokenEndpointAuthMethod,
    }),
  );
  provider.on('authorization.success', (ctx) =>
    record('authorization.success', { client_id: ctx.oidc.client?.clientId }),
  );
  provider.on('device_authorization.success', (ctx) =>
    record('device_authorization.success', { client_id: ctx.oidc.client?.clientId }),
  );
  provider.on('revocation.error', (ctx, error) =>
    record('revocation.error', { error: error.error, error_description: error.error_description }),
  );
  provider.on('server_error', (ctx, error) =>
    record('server_error', { message: String(error?.stack ?? error) }),
  );
  provider.on('refresh_token.saved', (token) => {
    refreshTokens.set(token.jti, {
      jti: token.jti,
      client_id: token.clientId,
      grant_id: token.grantId,
      state: 'active',
    });
    record('refresh_token.saved', { client_id: token.clientId });
  });
  provider.on('refresh_token.consumed', (token) => {
    const entry = refreshTokens.get(token.jti);
    if (entry) entry.state = 'consumed';
    record('refresh_token.consumed', { client_id: token.clientId });
  });
  provider.on('refresh_token.destroyed', (token) => {
    const entry = refreshTokens.get(token.jti);
    if (entry) entry.state = 'destroyed';
    record('refresh_token.destroyed', { client_id: token.clientId });
  });
  provider.on('grant.revoked', (ctx, grantId) => record('grant.revoked', { grant_id: grantId }));
}

async function revokeRefreshTokens(provider) {
  let revoked = 0;
  for (const entry of refreshTokens.values()) {
    if (entry.state !== 'active') continue;
    const token = await provider.RefreshToken.find(entry.jti, { ignoreExpiration: true });
    if (token) {
      await token.destroy();
      revoked += 1;
    }
    entry.state = 'destroyed';
  }
  record('admin.revoked_refresh_tokens', { count: revoked });
  return { revoked };
}

function sendJson(res, body) {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function testEndpoint(provider, req, res) {
  const route = `${req.method} ${new URL(req.url, 'http://x').pathname}`;
  switch (route) {
    case 'GET /_test/events':
      return sendJson(res, events);
    case 'GET /_test/refresh-tokens':
      return sendJson(res, [...refreshTokens.values()]);
    case 'POST /_test/revoke-refresh-tokens':
      return sendJson(res, await revokeRefreshTokens(provider));
    default:
      res.writeHead(404);
      return res.end();
  }
}

async function main() {
  const server = http.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, configuration());
  observe(provider);
  const handle = provider.callback();
  server.on('request', (req, res) => {
    if (req.url.startsWith('/_test/')) {
      testEndpoint(provider, req, res).catch((error) => {
        res.writeHead(500);
        res.end(String(error));
      });
      return;
    }
    if (req.method === 'POST' && req.url.startsWith('/token/revocation')) {
      record('http.revocation');
    }
    handle(req, res);
  });
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
  process.stdout.write(`ISSUER ${issuer}\n`);
}

await main();
