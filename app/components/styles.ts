/** Class names shared by the dashboard's pages. */

/** An inline link in running text. */
export const linkClass = 'font-medium text-tremor-brand hover:text-tremor-brand-emphasis';

/** Inline code (an event name, a field, a header) in running text. */
export const codeClass = 'rounded bg-tremor-background-subtle px-1 py-0.5 text-tremor-label';
