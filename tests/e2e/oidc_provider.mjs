// A real OAuth authorization server for tests/e2e/test_oauth.py: panva's oidc-provider on a loopback port.
//
//   node oidc_provider.mjs <port> <keys.json> <clients.json>
//
// keys.json: {"keys": [private JWK, ...]} (the first signs; restart with another file to rotate).
// clients.json: [{"client_id", "client_secret", "scope"}, ...], each allowed the client_credentials grant.
// Any http://127.0.0.1 resource indicator gets JWT access tokens (RFC 9068) whose aud is that resource, with
// the scopes asked for (within the client's) and an email claim. Prints "ready <issuer>" once it listens.
import { readFileSync } from 'node:fs';

import Provider, { errors } from 'oidc-provider';

const [port, keysFile, clientsFile] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const scopes = ['ubiops:read', 'ubiops:write', 'other:scope'];
const clients = JSON.parse(readFileSync(clientsFile, 'utf8')).map((client) => ({
  ...client,
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: 'client_secret_post',
}));

const provider = new Provider(issuer, {
  clients,
  jwks: JSON.parse(readFileSync(keysFile, 'utf8')),
  scopes,
  cookies: { keys: ['e2e-cookie-key-0123456789abcdef'] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resource) => {
        if (!resource.startsWith('http://127.0.0.1:')) throw new errors.InvalidTarget();
        return {
          scope: scopes.join(' '),
          audience: resource,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  extraTokenClaims: (_ctx, token) => ({ email: `${token.clientId}@example.test` }),
});

const server = provider.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
