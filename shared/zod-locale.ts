import { config } from 'zod/mini';
import { en } from 'zod/v4/locales';

/**
 * `zod/mini` loads no locale, so its issues would all read "Invalid input".
 * English is set once here; every module that validates with zod/mini imports this.
 */
config(en());
