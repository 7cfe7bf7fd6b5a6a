/** docs/embedding.md quotes test/docs/embedding-example.test.ts verbatim: keep them in step. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

it('docs/embedding.md quotes the example test file as it is', () => {
  const doc = fs.readFileSync(path.join(ROOT, 'docs/embedding.md'), 'utf8');
  const example = fs.readFileSync(path.join(ROOT, 'test/docs/embedding-example.test.ts'), 'utf8');
  expect(doc.includes('```ts\n' + example + '```'), 'update the quote in docs/embedding.md').toBe(true);
});
