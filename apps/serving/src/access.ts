/** Per-adapter access: which roles or tenants may call which adapter (403 otherwise). */
import type { AdapterAccessRule } from './config.js';
import { OpenAIError } from './openai-errors.js';

export interface Caller {
  roles: string[];
  email?: string;
}

/** Tenants are carried as `tenant:<name>` roles (Keycloak realm or client roles). */
export function tenantsOf(caller: Caller): string[] {
  return caller.roles.filter((r) => r.startsWith('tenant:')).map((r) => r.slice('tenant:'.length));
}

export function ruleFor(acl: Record<string, AdapterAccessRule>, model: string): AdapterAccessRule | undefined {
  if (acl[model]) return acl[model];
  // longest matching prefix pattern ("acme-*") wins
  let best: [string, AdapterAccessRule] | undefined;
  for (const [pattern, rule] of Object.entries(acl)) {
    if (!pattern.endsWith('*')) continue;
    const prefix = pattern.slice(0, -1);
    if (model.startsWith(prefix) && (!best || prefix.length > best[0].length)) best = [prefix, rule];
  }
  return best?.[1];
}

/** Admins may call everything; otherwise a rule with roles/tenants needs a match in either list. */
export function checkAdapterAccess(acl: Record<string, AdapterAccessRule>, model: string, caller: Caller): void {
  const rule = ruleFor(acl, model);
  if (!rule || caller.roles.includes('admin')) return;
  if (!rule.roles?.length && !rule.tenants?.length) return;
  const byRole = rule.roles?.some((r) => caller.roles.includes(r)) ?? false;
  const tenants = tenantsOf(caller);
  const byTenant = rule.tenants?.some((t) => tenants.includes(t)) ?? false;
  if (!byRole && !byTenant) {
    throw new OpenAIError(403, `you are not allowed to use the model \`${model}\``, 'model', 'model_access_denied', 'permission_error');
  }
}
