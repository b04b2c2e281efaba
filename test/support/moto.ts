/** The moto server the aws tier's global setup started (see test/aws/global-setup.ts). */
export function motoEndpoint(): string {
  const endpoint = process.env.MOTO_ENDPOINT;
  if (!endpoint) throw new Error('MOTO_ENDPOINT is not set: run the aws tier with `npm run test:aws`');
  return endpoint;
}

export const motoClientConfig = () => ({
  endpoint: motoEndpoint(),
  region: 'us-east-1',
  credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
});
