import { isLoopback } from '../../local/stack.js';
import { api, startTestStack } from '../support/local-stack.js';

jest.setTimeout(60_000);

describe('the dev integration page (it signs admin tokens for any ?org=)', () => {
  it('is served when the stack is bound to loopback', async () => {
    const stack = await startTestStack();
    try {
      const page = await api(stack, 'GET', '/?org=org_any');
      expect(page.status).toBe(200);
      expect(page.text).toContain('org_any');
    } finally {
      await stack.close();
    }
  });

  it('is refused, with no token in the answer, when the stack listens beyond loopback', async () => {
    const stack = await startTestStack({ HOST: '0.0.0.0' });
    try {
      const page = await api(stack, 'GET', '/?org=org_any');
      expect(page.status).toBe(403);
      expect(page.json).toMatchObject({ error: { code: 'dev_page_loopback_only' } });
      expect(page.text).not.toMatch(/eyJ/); // no JWT
      // The API itself still answers.
      expect((await api(stack, 'GET', '/v1/health')).status).toBe(200);
    } finally {
      await stack.close();
    }
  });

  it.each([
    ['127.0.0.1', true],
    ['127.3.2.1', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
    ['localhost', true],
    ['0.0.0.0', false],
    ['::', false],
    ['192.168.1.5', false],
    ['10.0.0.1', false],
    ['127.0.0.1.evil', false],
  ])('%s is loopback: %s', (address, loopback) => {
    expect(isLoopback(address)).toBe(loopback);
  });
});
