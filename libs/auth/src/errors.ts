/** No or unacceptable credentials → HTTP 401. The message never contains the token. */
export class AuthenticationError extends Error {
  constructor(message: string, readonly reason: 'missing_token' | 'invalid_token' | 'client_certificate' = 'invalid_token') {
    super(message);
    this.name = 'AuthenticationError';
  }
}

/** Authenticated but not allowed → HTTP 403. */
export class ForbiddenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ForbiddenError';
  }
}

/** The identity provider could not be reached (discovery/JWKS) → HTTP 503, not the caller's fault. */
export class IdentityProviderUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IdentityProviderUnavailableError';
  }
}

/** Invalid security configuration: names the variable(s); start-up must stop. */
export class AuthConfigError extends Error {
  constructor(readonly variables: Record<string, string>) {
    super(
      'Invalid security configuration: ' +
        Object.entries(variables)
          .map(([name, why]) => `${name}: ${why}`)
          .join('; '),
    );
    this.name = 'AuthConfigError';
  }
}

/** A token-supplied value for an error message: quoted, at most 64 characters, printable ASCII only (safe in headers). */
export function quoteUntrusted(value: unknown): string {
  const text = String(value);
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}...` : text).replace(/[^\x20-\x7e]/g, '?');
}
