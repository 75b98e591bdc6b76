// `tsx local/stripe/main.ts`: the local Stripe as a process (what `npm run dev` starts).
import { optionsFromEnv } from './config.js';
import { startLocalStripe } from './server.js';
import { formatDelivery } from './webhooks/format.js';

const options = optionsFromEnv();
const stripe = await startLocalStripe(options);
console.log(`[local-stripe] API ${stripe.url}/v1 (any sk_test_... key), Stripe.js stand-in ${stripe.url}/js/stripe.js`);
console.log(`[local-stripe] webhooks -> ${options.webhookUrl}, state in ${options.dataDir}`);
stripe.webhooks.onDelivery((d) => console.log(`[local-stripe] ${formatDelivery(d)}`));

const shutdown = (): void => {
  void stripe.close().then(() => process.exit(0));
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
