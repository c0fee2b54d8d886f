import { Table } from '@tremor/react';
import type { ComponentProps } from 'react';

/**
 * Tremor's Table, its scroll box positioned. The box (`overflow-auto`) is where a table
 * wider than its card scrolls; but screen-reader-only labels (`sr-only`: "Actions", a
 * button's "of <alert>") are absolutely positioned, and escape a box that is not a
 * containing block — widening the whole page at phone width (sideways scroll into blank
 * space). Every dashboard table goes through this component so that cannot come back.
 */
export function DataTable({ className, ...props }: ComponentProps<typeof Table>) {
  return <Table className={className ? `relative ${className}` : 'relative'} {...props} />;
}
