// Writes docs/events.schema.json from shared/events/catalog.ts: `npm run events:schema`.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { eventsJsonSchema } from '../shared/events/catalog.js';

// npm runs scripts from the package's root.
const file = resolve('docs', 'events.schema.json');
writeFileSync(file, `${JSON.stringify(eventsJsonSchema(), null, 2)}\n`);
process.stdout.write(`wrote ${file}\n`);
