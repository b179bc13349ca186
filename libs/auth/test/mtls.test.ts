import https from 'node:https';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthConfigError, loadAuthConfig, loadHttpsOptions, mtlsClientOptions } from '../src/index.js';
import { bootDemoApp, waitForAudit } from './nest-app.js';
import { startOidcProvider, type OidcFixture } from './oidc-fixture.js';

type Pem = { cert: string; key: string };
// How a refused client certificate surfaces on the client (TLS 1.3 alert or reset), never an HTTP status.
const TLS_REFUSAL = /alert|ECONNRESET|socket hang up/i;

async function makeCa(cn: string): Promise<Pem> {
  const pems = await generate([{ name: 'commonName', value: cn }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

async function issue(ca: Pem, subject: { name: string; value: string }[], usage: 'server' | 'client' | 'service'): Promise<Pem> {
  const pems = await generate(subject, {
    keyType: 'ec',
    algorithm: 'sha256',
    ca,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: usage !== 'client', clientAuth: usage !== 'server' },
      ...(usage !== 'client' ? [{ name: 'subjectAltName' as const, altNames: [{ type: 7 as const, ip: '127.0.0.1' }, { type: 2 as const, value: 'localhost' }] }] : []),
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

function request(url: string, options: { ca: string; client?: Pem; token?: string; method?: string }) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: options.method ?? 'GET',
        ca: options.ca,
        cert: options.client?.cert,
        key: options.client?.key,
        agent: false,
        headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
      },
      (res) => {
        let body = '';
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('production mode: mTLS + JWT on a Nest app', () => {
  let dir: string;
  let idp: OidcFixture;
  let ca: Pem;
  let goodClient: Pem;
  let foreignClient: Pem;
  let files: Record<string, string>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'clara-mtls-'));
    ca = await makeCa('CLARA Test CA');
    const otherCa = await makeCa('Someone Else CA');
    // a service certificate (server + client usage): serves HTTPS and calls other services
    const server = await issue(ca, [{ name: 'commonName', value: 'clara-training' }], 'service');
    goodClient = await issue(ca, [{ name: 'commonName', value: 'training-worker-1' }, { name: 'organizationName', value: 'CLARA' }], 'client');
    foreignClient = await issue(otherCa, [{ name: 'commonName', value: 'intruder' }], 'client');
    files = { ca: join(dir, 'ca.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server-key.pem') };
    writeFileSync(files.ca, ca.cert);
    writeFileSync(files.cert, server.cert);
    writeFileSync(files.key, server.key);
    idp = await startOidcProvider({ clients: [{ clientId: 'clara-training-system', realmRoles: ['admin'] }] });
  });
  afterAll(async () => {
    await idp?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const productionEnv = () => ({
    CLARA_SECURITY_MODE: 'production',
    CLARA_MTLS_CA_FILE: files.ca,
    CLARA_MTLS_CERT_FILE: files.cert,
    CLARA_MTLS_KEY_FILE: files.key,
  });

  it('good client certificate + token → 201 and the certificate subject is in the audit log; other CA and no certificate are refused', async () => {
    const config = idp.config(productionEnv());
    const httpsOptions = await loadHttpsOptions(config);
    expect(httpsOptions).toMatchObject({ requestCert: true, rejectUnauthorized: true });
    const demo = await bootDemoApp(config, httpsOptions);
    const tlsErrors: string[] = [];
    demo.app.getHttpServer().on('tlsClientError', (error: Error) => tlsErrors.push(error.message));
    const accepted: boolean[] = []; // one entry per TLS connection the server let through: was its client verified?
    demo.app.getHttpServer().on('secureConnection', (socket: { authorized: boolean }) => accepted.push(socket.authorized));
    try {
      const token = await idp.token('clara-training-system');
      const ok = await request(`${demo.baseUrl}/api/training/jobs`, { ca: ca.cert, client: goodClient, token, method: 'POST' });
      expect(ok.status).toBe(201);
      const me = await request(`${demo.baseUrl}/api/training/jobs/1`, { ca: ca.cert, client: goodClient, token });
      expect(JSON.parse(me.body).user.clientCertSubject).toBe('CN=training-worker-1, O=CLARA');

      await waitForAudit(demo.audit, 1);
      expect(demo.audit).toHaveLength(1);
      expect(demo.audit[0]).toMatchObject({ method: 'POST', status: 201, clientCertSubject: 'CN=training-worker-1, O=CLARA', sub: 'clara-training-system' });

      // another CLARA service calling with its own service certificate (mtlsClientOptions)
      const peer = mtlsClientOptions(httpsOptions!);
      const fromService = await request(`${demo.baseUrl}/api/training/jobs/1`, { ca: peer.ca, client: { cert: peer.cert, key: peer.key }, token });
      expect(JSON.parse(fromService.body).user.clientCertSubject).toBe('CN=clara-training');

      // a certificate is not enough: the token is still required
      expect((await request(`${demo.baseUrl}/api/training/jobs/1`, { ca: ca.cert, client: goodClient })).status).toBe(401);
      expect(accepted).toEqual([true, true, true, true]);
      // the TLS layer refuses these before any HTTP happens
      await expect(request(`${demo.baseUrl}/health`, { ca: ca.cert, client: foreignClient, token })).rejects.toThrow(TLS_REFUSAL);
      await expect(request(`${demo.baseUrl}/health`, { ca: ca.cert, token })).rejects.toThrow(TLS_REFUSAL);
      // the server never let either connection through, and says why for the missing certificate
      expect(accepted).toEqual([true, true, true, true]);
      expect(tlsErrors.at(-1)).toMatch(/peer did not return a certificate/);
    } finally {
      await demo.app.close();
    }
  });

  it('production refuses to start with mTLS or JWT off, and refuses to serve plain HTTP', async () => {
    expect(() => idp.config({ ...productionEnv(), CLARA_MTLS_ENABLED: 'false' })).toThrow(/CLARA_MTLS_ENABLED: production mode requires mTLS/);
    expect(() => idp.config({ ...productionEnv(), CLARA_JWT_ENABLED: 'false' })).toThrow(/CLARA_JWT_ENABLED: production mode requires JWT/);
    expect(() => idp.config({ ...productionEnv(), CLARA_MTLS_CERT_FILE: join(dir, 'missing.pem') })).toThrow(/CLARA_MTLS_CERT_FILE: file .* does not exist/);
    await expect(bootDemoApp(idp.config(productionEnv()))).rejects.toThrow(/serves plain HTTP/);
  });

  it('fetches the CA bundle from PKI_SERVICE_URL at start when no CA file is given', async () => {
    let served = 0;
    const pki = http.createServer((req, res) => {
      if (req.url !== '/api/v1/ca/bundle') return void res.writeHead(404).end();
      served++;
      res.writeHead(200, { 'content-type': 'application/x-pem-file' }).end(ca.cert);
    });
    await new Promise<void>((resolve) => pki.listen(0, '127.0.0.1', resolve));
    const pkiUrl = `http://127.0.0.1:${(pki.address() as AddressInfo).port}`;
    try {
      // production insists on https for a fetched CA; development + mTLS may use http (local PKI)
      expect(() => idp.config({ ...productionEnv(), CLARA_MTLS_CA_FILE: '', PKI_SERVICE_URL: pkiUrl })).toThrow(/PKI_SERVICE_URL/);
      const config = idp.config({ CLARA_MTLS_ENABLED: 'true', CLARA_MTLS_CERT_FILE: files.cert, CLARA_MTLS_KEY_FILE: files.key, PKI_SERVICE_URL: pkiUrl });
      const httpsOptions = await loadHttpsOptions(config);
      expect(served).toBe(1);
      expect(httpsOptions?.ca).toBe(ca.cert);
      const demo = await bootDemoApp(config, httpsOptions);
      try {
        const token = await idp.token('clara-training-system');
        expect((await request(`${demo.baseUrl}/api/training/jobs/1`, { ca: ca.cert, client: goodClient, token })).status).toBe(200);
        await expect(request(`${demo.baseUrl}/api/training/jobs/1`, { ca: ca.cert, client: foreignClient, token })).rejects.toThrow(TLS_REFUSAL);
      } finally {
        await demo.app.close();
      }
      const unreachable = loadAuthConfig({ CLARA_SECURITY_MODE: 'development', CLARA_MTLS_ENABLED: 'true', CLARA_MTLS_CERT_FILE: files.cert, CLARA_MTLS_KEY_FILE: files.key, PKI_SERVICE_URL: 'http://127.0.0.1:9' });
      await expect(loadHttpsOptions(unreachable)).rejects.toBeInstanceOf(AuthConfigError);
      await expect(loadHttpsOptions(unreachable)).rejects.toThrow(/PKI_SERVICE_URL: could not fetch the CA bundle/);
    } finally {
      pki.close();
    }
  });
});
