/** What `@Auth()` injects and what the audit log records. */
export interface AuthUser {
  /** Token subject (Keycloak user id); `debug` for the debug mock user. */
  sub: string;
  /** `email` claim, else `preferred_username`, else `sub` (seed: `created_by`). */
  email: string;
  /** realm_access.roles ∪ resource_access[client].roles */
  roles: string[];
  /** Subject DN of the verified TLS client certificate (mTLS only). */
  clientCertSubject?: string;
  /** How the identity was established. */
  via: 'jwt' | 'debug';
}
