import type { CustomTooltipProps } from '@tremor/react';
import type { ComponentType } from 'react';
import { formatCompact } from '~/lib/numbers';

/**
 * A Tremor chart's tooltip (same look as its own) that prints each value with `format`,
 * while the chart's `valueFormatter` prints the axis: a y axis has a few pixels per label
 * and reads "1.4M", the tooltip gives the exact figure ("1,396,777"). `titleOf` heads it with
 * a longer name of the point (from its data row) than the x axis has room for.
 */
export function exactTooltip(format: (value: number) => string, titleOf?: (datum: unknown) => string | undefined): ComponentType<CustomTooltipProps> {
  function ExactTooltip({ active, payload, label }: CustomTooltipProps) {
    const rows = (payload ?? []).filter((p) => p.type !== 'none');
    if (!active || rows.length === 0) return null;
    return (
      <div className="rounded-tremor-default border border-tremor-border bg-tremor-background text-tremor-default shadow-tremor-dropdown">
        <p className="border-b border-tremor-border px-4 py-2 font-medium text-tremor-content-emphasis">{titleOf?.(rows[0]?.payload) ?? label}</p>
        <div className="space-y-1 px-4 py-2">
          {rows.map((row, i) => (
            <div key={`${String(row.name)}-${i}`} className="flex items-center justify-between space-x-8">
              <div className="flex items-center space-x-2">
                <span className={`h-3 w-3 shrink-0 rounded-tremor-full border-2 border-tremor-background shadow-tremor-card bg-${String(row.color ?? 'gray')}-500`} />
                <p className="whitespace-nowrap text-right text-tremor-content">{row.name}</p>
              </div>
              <p className="whitespace-nowrap text-right font-medium tabular-nums text-tremor-content-emphasis">{format(Number(row.value))}</p>
            </div>
          ))}
        </div>
      </div>
    );
  }
  return ExactTooltip;
}

/**
 * A chart's value props for figures that can run into the millions: the y axis compact
 * ("1.4M", "21.5B" — a fixed-width axis cut "1,400,000" to ",400,000"), the tooltip exact.
 */
export const compactAxis = (exact: (value: number) => string, titleOf?: (datum: unknown) => string | undefined) => ({
  valueFormatter: formatCompact,
  customTooltip: exactTooltip(exact, titleOf),
});
