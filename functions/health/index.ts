import { makeHandler } from './handler.js';

export const handler = makeHandler();
