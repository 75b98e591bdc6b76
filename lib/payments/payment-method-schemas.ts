import { z } from 'zod';

// Inputs of the payment-method actions and routes (shared by both).

export const paymentMethodIdSchema = z
  .string({ error: 'paymentMethodId is required' })
  .regex(/^pm_[A-Za-z0-9_]{1,250}$/, { error: 'paymentMethodId is not a card of yours' });

export const paymentMethodBodySchema = z.strictObject({ paymentMethodId: paymentMethodIdSchema });

export const setupIntentIdSchema = z
  .string({ error: 'setupIntentId is required' })
  .regex(/^seti_[A-Za-z0-9_]{1,250}$/, { error: 'setupIntentId is not valid' });

export const cardAddedBodySchema = z.strictObject({
  setupIntentId: setupIntentIdSchema,
  /** Make the new card the default (it always is when it is the first card). */
  makeDefault: z.boolean({ error: 'makeDefault must be true or false' }).default(true),
});

export type CardAddedBody = z.infer<typeof cardAddedBodySchema>;

export const paymentMethodAnswerSchema = z.object({
  id: z.string(),
  brand: z.string(),
  last4: z.string(),
  expMonth: z.int(),
  expYear: z.int(),
  isDefault: z.boolean(),
});
export type PaymentMethodAnswer = z.infer<typeof paymentMethodAnswerSchema>;

export const payPastDueBodySchema = z.strictObject({
  invoiceId: z.string({ error: 'invoiceId is required' }).regex(/^in_[A-Za-z0-9_]{1,250}$/, { error: 'invoiceId is not valid' }),
  paymentMethodId: paymentMethodIdSchema,
});
export type PayPastDueBody = z.infer<typeof payPastDueBodySchema>;
