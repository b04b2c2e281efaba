import { type CallbackDeps, completeCallback } from '../../shared/connect/install.js';
import { defaultReturnTo, withOutcome } from '../../shared/connect/return-to.js';
import { describeError, httpHandler } from '../../shared/http/handler.js';
import { callbackQuerySchema } from '../../shared/http/request-schemas.js';
import { redirect } from '../../shared/http/response.js';
import { logger } from '../../shared/logger.js';

/**
 * GET /v1/integrations/stripe/callback (public: Stripe's redirect). A browser
 * never gets JSON or a 5xx here: every outcome is a redirect to the frontend,
 * an unexpected failure with a correlation id that is also in the logs.
 */
export const makeHandler = (deps: CallbackDeps) =>
  httpHandler(async (event, context) => {
    try {
      const query = callbackQuerySchema.safeParse(event.queryStringParameters ?? {});
      if (!query.success)
        return redirect(
          withOutcome(defaultReturnTo(deps.config), { stripe: 'error', reason: 'invalid_request' }),
        );
      return redirect(await completeCallback(deps, query.data));
    } catch (error) {
      const ref = context.awsRequestId;
      logger.error('OAuth callback failed', { ref, error: describeError(error) });
      return redirect(
        withOutcome(defaultReturnTo(deps.config), { stripe: 'error', reason: 'internal', ref }),
      );
    }
  });
