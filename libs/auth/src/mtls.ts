/**
 * mTLS (production): HTTPS server options that REQUIRE a client certificate signed by the CLARA CA,
 * the CA bundle from CLARA_MTLS_CA_FILE or fetched from PKI_SERVICE_URL at start, and the verified
 * client certificate's subject for the audit log.
 *
 *   const httpsOptions = await loadHttpsOptions(loadAuthConfig());
 *   const app = await NestFactory.create(AppModule, { httpsOptions });
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { AuthConfig } from './config.js';
import { AuthConfigError } from './errors.js';

/** Fits both Nest's `httpsOptions` and `https.createServer()`. */
export interface MtlsHttpsOptions {
  cert: string;
  key: string;
  ca: string;
  requestCert: true;
  rejectUnauthorized: true;
  minVersion: 'TLSv1.2';
}

/** undefined when mTLS is off (serve plain HTTP); otherwise options for https.createServer / NestFactory. */
export async function loadHttpsOptions(config: Pick<AuthConfig, 'mtls'>, fetchImpl: typeof fetch = fetch): Promise<MtlsHttpsOptions | undefined> {
  const { mtls } = config;
  if (!mtls.enabled) return undefined;
  const cert = readPem('CLARA_MTLS_CERT_FILE', mtls.certFile);
  const key = readPem('CLARA_MTLS_KEY_FILE', mtls.keyFile);
  const ca = mtls.caFile ? readPem('CLARA_MTLS_CA_FILE', mtls.caFile) : await fetchCaBundle(mtls.pkiServiceUrl + mtls.pkiCaPath, fetchImpl);
  const variable = mtls.caFile ? 'CLARA_MTLS_CA_FILE' : 'PKI_SERVICE_URL';
  if (parseCertificates(ca).length === 0) throw new AuthConfigError({ [variable]: 'CA bundle contains no PEM certificate' });
  if (parseCertificates(cert).length === 0) throw new AuthConfigError({ CLARA_MTLS_CERT_FILE: 'contains no PEM certificate' });
  return { cert, key, ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' };
}

/**
 * TLS options for this service's OUTGOING calls to other CLARA services under mTLS (e.g. training → datasets):
 * the service certificate as client certificate and the same CA for the server. Issue service certificates with
 * both usages (serverAuth + clientAuth; cert-manager `usages: [server auth, client auth]`).
 *   new https.Agent(mtlsClientOptions(httpsOptions))   or   new undici.Agent({ connect: mtlsClientOptions(httpsOptions) })
 */
export function mtlsClientOptions(server: MtlsHttpsOptions): { cert: string; key: string; ca: string } {
  return { cert: server.cert, key: server.key, ca: server.ca };
}

function readPem(variable: string, path: string | undefined): string {
  if (!path) throw new AuthConfigError({ [variable]: 'is required when CLARA_MTLS_ENABLED=true' });
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new AuthConfigError({ [variable]: `cannot read ${JSON.stringify(path)}: ${(error as Error).message}` });
  }
}

async function fetchCaBundle(url: string, fetchImpl: typeof fetch): Promise<string> {
  try {
    const response = await fetchImpl(url, { signal: AbortSignal.timeout(10_000), headers: { accept: 'application/x-pem-file, text/plain' } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return await response.text();
  } catch (error) {
    throw new AuthConfigError({ PKI_SERVICE_URL: `could not fetch the CA bundle from ${url}: ${(error as Error).message}` });
  }
}

export function parseCertificates(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => new X509Certificate(block));
}

/**
 * Subject of the client certificate that TLS verified on this connection (e.g. "CN=worker-1, O=CLARA"),
 * or undefined when the connection is not TLS or the certificate was not verified.
 */
export function verifiedClientCertSubject(socket: Socket | undefined): string | undefined {
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
  const cert = socket.getPeerX509Certificate();
  return cert ? cert.subject.split('\n').join(', ') : undefined;
}
