import type { ReactNode } from 'react';

/**
 * A chart's figures as a table, folded under the chart ("Show as a table"): what a screen
 * reader or a keyboard user reads instead of the drawing (Tremor's SVG has no text
 * alternative), and where anyone can read exact values. The first column names each row
 * (the chart's x axis); the others are right-aligned figures.
 */
export function ChartTable({ label, columns, rows, testId }: { label: string; columns: string[]; rows: Array<{ key: string; cells: ReactNode[] }>; testId?: string }) {
  return (
    <details className="mt-4" data-testid={testId}>
      <summary className="cursor-pointer text-tremor-default font-medium text-tremor-content-emphasis">Show as a table</summary>
      <div className="mt-2 max-h-80 overflow-auto">
        <table className="w-full text-left text-tremor-default">
          <caption className="sr-only">{label}</caption>
          <thead>
            <tr>
              {columns.map((column, i) => (
                <th key={`${i}:${column}`} scope="col" className={`py-1 pr-4 font-medium${i > 0 ? ' text-right' : ''}`}>
                  {column}
                </th>
              ))}
            </tr>
          </thead>
          <tbody className="tabular-nums">
            {rows.map((row) => (
              <tr key={row.key} className="border-t border-tremor-border">
                {row.cells.map((cell, i) =>
                  i === 0 ? (
                    <th key={i} scope="row" className="py-1 pr-4 font-normal">
                      {cell}
                    </th>
                  ) : (
                    <td key={i} className="py-1 pr-4 text-right">
                      {cell}
                    </td>
                  ),
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </details>
  );
}
