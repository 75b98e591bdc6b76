// npm run webhooks -- list | replay <evt_id> | replay-failed
// Operators' view of the webhook inbox: events that failed (or never finished), and replaying
// them from their recorded payload through the same processing as a live delivery.
import { getDatabase } from '@/lib/db';
import { listUnfinishedEvents, replayEvent } from '@/lib/webhooks/inbox';

const [command, eventId] = process.argv.slice(2);
const db = await getDatabase();
try {
  if (command === 'list') {
    const events = await listUnfinishedEvents(db);
    if (events.length === 0) console.log('No failed or unfinished webhook events.');
    for (const event of events)
      console.log(`${event.id}  ${event.type}  ${event.status}  attempts=${event.attempts}  ${event.lastError ?? ''}`);
  } else if (command === 'replay' && eventId) {
    console.log(JSON.stringify(await replayEvent(db, eventId)));
  } else if (command === 'replay-failed') {
    let failures = 0;
    for (const event of await listUnfinishedEvents(db, 1000)) {
      try {
        console.log(JSON.stringify(await replayEvent(db, event.id)));
      } catch (error) {
        failures++;
        console.error(`${event.id} failed again: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    process.exitCode = failures > 0 ? 1 : 0;
  } else {
    console.error('usage: npm run webhooks -- list | replay <evt_id> | replay-failed');
    process.exitCode = 2;
  }
} finally {
  await db.close();
}
