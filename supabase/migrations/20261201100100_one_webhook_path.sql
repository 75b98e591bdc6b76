-- Webhooks have one path (lib/webhooks/inbox.ts -> dispatcher): payment_intent.succeeded is no
-- longer handled by a one-statement shortcut, so the function that did it is dropped. The
-- handler calls app_private.settle_top_up in the event's transaction like any other handler.
drop function if exists app_private.process_top_up_succeeded(text, text, timestamptz, jsonb, text, uuid, text, int, int);
drop function if exists app_private.process_top_up_succeeded(text, text, timestamptz, jsonb, text, uuid, text, int, int, text);
