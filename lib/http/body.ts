import type { IncomingMessage } from 'node:http';
import { AppError, errorResponse } from '@/lib/http/errors';

// Request bodies are read as a stream and abandoned at the limit, so an oversized post costs at
// most `limit` bytes of memory however large it is. A declared Content-Length over the limit is
// refused before a byte is read.

/** JSON API bodies. */
export const JSON_BODY_LIMIT_BYTES = 64 * 1024;
/**
 * Stripe's webhook deliveries. Stripe publishes no maximum event size that we could find; events
 * are a few KB to a few tens of KB (an invoice with many lines is the largest), so 1 MiB leaves
 * a wide margin while keeping a flood of oversized posts cheap.
 */
export const WEBHOOK_BODY_LIMIT_BYTES = 1024 * 1024;

export function payloadTooLarge(limitBytes: number): AppError {
  return new AppError('payload_too_large', `Request body must be at most ${limitBytes} bytes`);
}

/** The body as UTF-8 text, or a 413 AppError as soon as it passes `limitBytes`. */
export async function readBodyText(request: Request, limitBytes: number): Promise<string> {
  const declared = request.headers.get('content-length');
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) > limitBytes) {
    await request.body?.cancel().catch(() => undefined);
    throw payloadTooLarge(limitBytes);
  }
  if (!request.body) return '';
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limitBytes) {
      await reader.cancel().catch(() => undefined);
      throw payloadTooLarge(limitBytes);
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/**
 * The same for a Node.js request (a Pages Router API route): the body as UTF-8 text, or a 413
 * AppError as soon as it passes `limitBytes`. The rest is then left unread, so the answer must
 * close the connection (see `nodeRoute`).
 */
export function readNodeBodyText(request: IncomingMessage, limitBytes: number): Promise<string> {
  const declared = request.headers['content-length'];
  if (declared !== undefined && /^\d+$/.test(declared) && Number(declared) > limitBytes) return Promise.reject(payloadTooLarge(limitBytes));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const stop = () => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
      request.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      total += chunk.byteLength;
      if (total > limitBytes) {
        stop();
        request.pause();
        reject(payloadTooLarge(limitBytes));
      } else chunks.push(chunk);
    };
    // TextDecoder, as for a fetch Request: invalid bytes become U+FFFD and a leading BOM is dropped.
    const onEnd = () => {
      stop();
      resolve(new TextDecoder().decode(Buffer.concat(chunks)));
    };
    const onError = (error: Error) => {
      stop();
      reject(error);
    };
    const onClose = () => {
      stop();
      reject(new Error('The request was cut off before its body ended'));
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
    request.on('close', onClose);
  });
}

/**
 * Server actions (POSTs to pages). Next.js reads at most `experimental.serverActions.bodySizeLimit`
 * but answers 500 past it, and buffers page bodies for the proxy up to
 * `experimental.proxyClientMaxBodySize`; next.config.js sets both to this figure and the proxy
 * answers 413 first (see `refusePageBody`).
 */
export const SERVER_ACTION_BODY_LIMIT_BYTES = 1024 * 1024;

/**
 * The proxy's answer to a page request whose body is too large, or null. Browsers always send
 * Content-Length with a form or a server action, so a page body without one is refused too.
 */
export function refusePageBody(request: Request): Response | null {
  const method = request.method.toUpperCase();
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return null;
  const declared = request.headers.get('content-length');
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) <= SERVER_ACTION_BODY_LIMIT_BYTES) return null;
  if (declared === null && !request.headers.get('transfer-encoding')) return null; // no body at all
  return errorResponse(payloadTooLarge(SERVER_ACTION_BODY_LIMIT_BYTES));
}
