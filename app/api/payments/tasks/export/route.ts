import { exportTaskReceiptsCsv, taskCsvFileName } from '@/lib/billing/task-receipts';
import { exportTaskReceiptsQuerySchema } from '@/lib/billing/task-receipt-schemas';
import { route } from '@/lib/http/route';

// GET /api/payments/tasks/export – the same tasks as CSV, every page, streamed
export const GET = route({ auth: 'user', query: exportTaskReceiptsQuerySchema }, async ({ db, actor, query }) => {
  const { scope, lines } = await exportTaskReceiptsCsv(db, actor, query);
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await lines.next();
      if (next.done) controller.close();
      else controller.enqueue(encoder.encode(next.value));
    },
    async cancel() {
      await lines.return(undefined);
    },
  });
  return new Response(body, {
    headers: {
      'content-type': 'text/csv; charset=utf-8',
      'content-disposition': `attachment; filename="${taskCsvFileName(scope)}"`,
      'cache-control': 'private, no-store',
    },
  });
});
