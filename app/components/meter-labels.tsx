import type { TMeter } from '../../server/schemas/meters';

/**
 * What each aggregation and billing model means, in the creator's words. Kept apart from
 * the form so the list page does not ship the form's schemas; a new enum value fails
 * typecheck until it is described here.
 */
export const AGGREGATIONS = {
  count: {
    label: 'Count',
    description: 'Number of events, whatever their value (API calls, messages).',
  },
  sum: {
    label: 'Sum',
    description: 'Sum of event values (tokens, credits, GB transferred).',
  },
  max: {
    label: 'Max',
    description: 'Largest value in the period (peak seats, storage high-water mark).',
  },
  unique: {
    label: 'Unique',
    description: 'Distinct values of a property (active users, projects).',
  },
  duration: {
    label: 'Duration',
    description: 'Event values are seconds, reported in ms, seconds, minutes or hours.',
  },
} as const satisfies Record<TMeter['aggregation_type'], { label: string; description: string }>;

export const BILLING_MODEL_LABELS = {
  metered: 'Metered — billed on usage',
  licensed: 'Licensed — a fixed quantity per period',
} as const satisfies Record<TMeter['billing_model'], string>;
