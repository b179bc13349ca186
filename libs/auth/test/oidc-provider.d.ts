// oidc-provider ships no type declarations; the tests use only this much of it.
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';
  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown> & { extraTokenClaims?: (ctx: unknown, token: unknown) => unknown });
    callback(): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  }
}
