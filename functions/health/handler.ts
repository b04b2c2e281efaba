import type { HttpFunction } from '../../shared/http/handler.js';
import { json } from '../../shared/http/response.js';

/**
 * Liveness only: it touches no dependency, so it answers while Stripe or AWS is
 * down. It cannot fail and has nothing to log, so it skips the middy chain and
 * Powertools, whose first use alone would double this function's cold start.
 */
export const makeHandler = (): HttpFunction => async () => json(200, { status: 'ok' });
