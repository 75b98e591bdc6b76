export interface HandlerResult {
  outcome: 'processed' | 'ignored';
  userId: string | null;
}
