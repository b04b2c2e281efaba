import { httpHandler } from '../../shared/http/handler.js';
import { json } from '../../shared/http/response.js';

/** Liveness only: it touches no dependency, so it answers while Stripe or AWS is down. */
export const makeHandler = () => httpHandler(async () => json(200, { status: 'ok' }));
