/** A text field of a submitted form ('' when absent or a file). */
export function formText(formData: FormData, name: string): string {
  const value = formData.get(name);
  return typeof value === 'string' ? value : '';
}

/**
 * Server field messages read as a predicate ("must be at least 10 characters") so that
 * they can follow the field's label; whole sentences are shown as they are.
 */
export function fieldMessage(label: string, message: string | undefined): string | undefined {
  if (!message) return undefined;
  return /^[a-z]/.test(message) ? `${label} ${message}` : message;
}

/** What a failed form answers: the sentence at the top of the form and per-field messages. */
export type FormFailure = { status: number; message: string; fields: Record<string, string> };

/**
 * The sentence at the top of a failed form. Field problems are shown beside their
 * fields, so the top only points at them; a rate limit says when to come back.
 */
export function formAlertMessage(error: { status: number; message: string; fields: Record<string, string>; retryAfter?: number }): string {
  if (error.status === 429) return `Too many attempts, try again in ${error.retryAfter ?? 60} seconds.`;
  if (error.status === 422 && Object.keys(error.fields).length > 0) return 'Please correct the highlighted fields.';
  return error.message;
}

/**
 * A form's React key: new after each of its successful saves (`at`: when the action answered),
 * so its fields show what the server stored (trimmed, normalised, a write-only key or a password
 * gone) rather than what was typed — two saves alike included. It holds the stored values too:
 * the answer can be rendered before the reloaded data arrive, and the form must be drawn again
 * from those. A refused save keeps the key, and what was typed.
 */
export function savedFormKey(result: { intent: string; ok: boolean; at: number } | null | undefined, intent: string, stored: unknown = null): string {
  return result?.intent === intent && result.ok ? `${intent}-saved-${result.at}-${JSON.stringify(stored)}` : intent;
}
