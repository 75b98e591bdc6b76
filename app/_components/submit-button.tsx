'use client';

import { useFormStatus } from 'react-dom';
import type { ReactNode } from 'react';

/** A form's submit button that is disabled while its server action runs (no double submit). */
export function SubmitButton({ children, pendingText, className }: { children: ReactNode; pendingText: string; className?: string }) {
  const { pending } = useFormStatus();
  return (
    <button type="submit" disabled={pending} className={className} aria-disabled={pending}>
      {pending ? pendingText : children}
    </button>
  );
}
