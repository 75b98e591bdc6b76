// Faults on demand: the next N matching /v1 calls answer 500, 429, or never
// answer (a timeout from the client's point of view).

export interface FaultSpec {
  type: '500' | '429' | 'timeout';
  /** How many calls to affect (default 1). */
  count?: number;
  /** Only calls with this method. */
  method?: 'GET' | 'POST' | 'DELETE';
  /** Only calls whose path starts with this, e.g. `/v1/payment_intents`. */
  path?: string;
  /**
   * For `timeout`: run the request (state changes, idempotency record saved)
   * and then drop the response, the "did it go through?" case a client must
   * retry with the same idempotency key.
   */
  afterProcessing?: boolean;
}

interface ActiveFault extends FaultSpec {
  remaining: number;
}

export class Faults {
  private active: ActiveFault[] = [];

  inject(spec: FaultSpec): void {
    this.active.push({ ...spec, remaining: spec.count ?? 1 });
  }

  clear(): void {
    this.active = [];
  }

  pending(): FaultSpec[] {
    return this.active.map(({ remaining, ...spec }) => ({ ...spec, count: remaining }));
  }

  /** Consumes and returns the first fault matching this call, if any. */
  take(method: string, path: string): FaultSpec | null {
    const fault = this.active.find(
      (f) => (f.method === undefined || f.method === method) && (f.path === undefined || path.startsWith(f.path)),
    );
    if (!fault) return null;
    fault.remaining--;
    if (fault.remaining <= 0) this.active = this.active.filter((f) => f !== fault);
    return fault;
  }
}
