/**
 * Request/reply between the training API (port 45680, which keeps the seed's /api/datasets/search and
 * /api/datasets/statistics) and the datasets service, on Subjects.datasetSearchRequest and
 * Subjects.datasetStatisticsRequest.
 *
 * The request is this envelope; the reply is exactly the JSON body the datasets service's own HTTP endpoint
 * would return. A responder signals a client error by throwing an error with a numeric `status` (e.g. a Nest
 * HttpException, or `Object.assign(new Error('top_k must be ...'), { status: 400 })`): the training API answers
 * with that status and message.
 */
export interface DatasetForwardRequest<T = Record<string, unknown>> {
  /** POST body (search) or query parameters (statistics), exactly as the client sent them. */
  payload: T;
  /** The authenticated caller (already checked for the route's permission by the training API). */
  user?: { email: string; roles: string[] };
}
