import { Form, Link } from '@remix-run/react';
import Decimal from 'decimal.js';
import { Card, TableBody, TableCell, TableHead, TableHeaderCell, TableRow } from '@tremor/react';
import type { TCustomerEvent, TCustomerMeterUsage } from '../../server/schemas/customers';
import { Button, buttonClassName } from '~/components/buttons';
import { SelectField } from '~/components/choice-fields';
import { TextField } from '~/components/form-field';
import { formatDateTime, unitFor } from '~/lib/format';
import { formatDecimal } from '~/lib/numbers';
import { DataTable } from './data-table';

/** The explorer's filters as the URL carries them (?meter=&from=&to=&key=&value=&cursor=). */
export type EventFilters = { meter: string; from: string; to: string; key: string; value: string; cursor: string };
export const EVENT_FILTER_NAMES = ['meter', 'from', 'to', 'key', 'value', 'cursor'] as const;

type MeterRef = Pick<TCustomerMeterUsage, 'meter_id' | 'event_name' | 'display_name' | 'unit_name' | 'aggregation_type' | 'used' | 'event_count'>;

/** How a meter's period total is made from its events, in words ("= sum of 1,234 events"). */
export function explainTotal(meter: MeterRef): string {
  const n = `${meter.event_count.toLocaleString('en-US')} ${meter.event_count === 1 ? 'event' : 'events'}`;
  switch (meter.aggregation_type) {
    case 'count':
      return `= ${n}, each counting 1`;
    case 'sum':
      return `= sum of the values of ${n}`;
    case 'duration': {
      const perUnit = SECONDS_PER_UNIT[meter.unit_name];
      return perUnit && perUnit !== 1
        ? `= sum of the durations of ${n} in seconds (the Value column), ÷ ${perUnit.toLocaleString('en-US')}`
        : `= sum of the durations of ${n} (seconds, shown in ${meter.unit_name})`;
    }
    case 'max':
      return `= the largest value among ${n}`;
    case 'unique':
      return `= distinct values among ${n} (events marked “new” added 1)`;
  }
}

/** Seconds in one unit of a duration meter (its events' values are seconds). */
const SECONDS_PER_UNIT: Record<string, number> = { ms: 0.001, seconds: 1, minutes: 60, hours: 3600 };

/**
 * A duration event's seconds in minutes or hours are often no finite decimal (1 s = 0.0166…
 * minutes): the API answers them rounded to 9 decimals, so such rows would add up to a few
 * billionths more or less than the total. Those rows say they are rounded ("≈") and show the
 * exact division they stand for; the Value column's seconds add up to the total exactly.
 */
function isRoundedDuration(event: Pick<TCustomerEvent, 'value' | 'counted'>, meter: MeterRef | undefined): number | null {
  const perUnit = meter?.aggregation_type === 'duration' ? SECONDS_PER_UNIT[meter.unit_name] : undefined;
  if (!perUnit || perUnit <= 1) return null;
  return new Decimal(event.counted).times(perUnit).equals(new Decimal(event.value)) ? null : perUnit;
}

const PROPERTIES_PREVIEW = 80;

function Properties({ properties }: { properties: unknown }) {
  const compact = JSON.stringify(properties ?? {});
  if (compact === '{}') return <span className="text-tremor-content-subtle">{'{}'}</span>;
  const pretty = JSON.stringify(properties, null, 2);
  if (compact.length <= PROPERTIES_PREVIEW) return <code className="break-all font-mono text-[12px] text-tremor-content-emphasis">{compact}</code>;
  return (
    <details className="max-w-md">
      <summary className="cursor-pointer break-all font-mono text-[12px] text-tremor-content-emphasis">
        {compact.slice(0, PROPERTIES_PREVIEW)}… <span className="font-sans text-tremor-brand">show all</span>
      </summary>
      <pre className="mt-2 max-h-64 overflow-auto rounded bg-tremor-background-subtle p-2 font-mono text-[12px]">{pretty}</pre>
    </details>
  );
}

function counted(event: Pick<TCustomerEvent, 'new_distinct' | 'counted' | 'value'>, meter: MeterRef | undefined) {
  if (meter?.aggregation_type === 'unique') return event.new_distinct ? <span title="A value not seen before in its period">+1 (new)</span> : <span title="Seen before in its period">0 (seen)</span>;
  if (meter?.aggregation_type === 'max') {
    return (
      <span title="The period total is the largest value">
        {formatDecimal(event.counted)} <span className="whitespace-nowrap">(max)</span>
      </span>
    );
  }
  const perUnit = isRoundedDuration(event, meter);
  if (perUnit !== null && meter) {
    return (
      <span title={`${formatDecimal(event.value)} ${unitFor(formatDecimal(event.value), 'seconds')} ÷ ${perUnit.toLocaleString('en-US')}, rounded to 9 decimals`}>
        ≈ +{formatDecimal(event.counted)}
        <span className="block text-tremor-label text-tremor-content">{meter.unit_name}</span>
        <span className="block text-tremor-label text-tremor-content" data-testid="event-counted-exact">
          = {formatDecimal(event.value)} s ÷ {perUnit.toLocaleString('en-US')}
        </span>
      </span>
    );
  }
  return <>+{formatDecimal(event.counted)}</>;
}

export function EventsExplorer({
  events,
  nextCursor,
  filters,
  errors,
  meters,
  periodStart,
  firstPageLink,
  nextPageLink,
  chart,
}: {
  /** As the loader serialised them (properties: any JSON). */
  events: Array<Omit<TCustomerEvent, 'properties'> & { properties?: unknown }>;
  nextCursor: string | null;
  filters: EventFilters;
  errors: Partial<Record<keyof EventFilters, string>>;
  meters: MeterRef[];
  periodStart: string;
  firstPageLink: string;
  nextPageLink: string;
  /** The meter the page's charts show: filtering keeps it. */
  chart?: string;
}) {
  const byId = new Map(meters.map((m) => [m.meter_id, m]));
  const chosen = filters.meter ? byId.get(filters.meter) : undefined;
  const explained = chosen ? [chosen] : meters.filter((m) => m.event_count > 0);
  const filtered = EVENT_FILTER_NAMES.some((name) => name !== 'cursor' && filters[name]);
  return (
    <Card className="p-0" id="events">
      <div className="px-6 pt-6">
        <h2 className="text-tremor-title font-semibold text-tremor-content-strong">Events</h2>
        <p className="mt-1 text-tremor-default text-tremor-content">The raw events behind the numbers, newest first. Times are UTC.</p>
        {explained.length > 0 ? (
          <ul className="mt-3 space-y-1 text-tremor-default text-tremor-content" data-testid="events-explained">
            {explained.map((m) => (
              <li key={m.meter_id}>
                <span className="font-medium text-tremor-content-strong">
                  {m.display_name}: {formatDecimal(m.used)} {unitFor(formatDecimal(m.used), m.unit_name)}
                </span>{' '}
                {explainTotal(m)} since {formatDateTime(periodStart)}.
              </li>
            ))}
          </ul>
        ) : null}
        <Form method="get" action="#events" className="mt-5" aria-label="Filter events">
          {chart ? <input type="hidden" name="chart" value={chart} /> : null}
          <div key={JSON.stringify(filters)} className="grid gap-4 sm:grid-cols-2 lg:grid-cols-[repeat(5,minmax(0,1fr))_auto] lg:items-start">
            <SelectField
              label="Meter"
              name="meter"
              idPrefix="events"
              defaultValue={filters.meter}
              error={errors.meter}
              options={[{ value: '', label: 'All meters' }, ...meters.map((m) => ({ value: m.meter_id, label: m.event_name }))]}
            />
            <TextField label="From (UTC)" name="from" type="datetime-local" defaultValue={filters.from} error={errors.from} />
            <TextField label="To (UTC)" name="to" type="datetime-local" defaultValue={filters.to} error={errors.to} />
            <TextField label="Property" name="key" placeholder="e.g. endpoint" maxLength={200} defaultValue={filters.key} error={errors.key} />
            <TextField label="Equals" name="value" placeholder="e.g. /v1/search" maxLength={1000} defaultValue={filters.value} error={errors.value} />
            <div className="flex gap-2 lg:pt-7">
              <Button variant="secondary">Filter</Button>
              {filtered ? (
                <Link to={`${firstPageLink.split('?')[0]}${chart ? `?chart=${encodeURIComponent(chart)}` : ''}#events`} className={buttonClassName('secondary')}>
                  Clear
                </Link>
              ) : null}
            </div>
          </div>
        </Form>
        {errors.cursor ? (
          <p role="status" className="mt-4 rounded-tremor-default border border-amber-200 bg-amber-50 px-3 py-2 text-tremor-default text-amber-800">
            {errors.cursor}
          </p>
        ) : null}
      </div>
      {events.length === 0 ? (
        <p className="px-6 pb-8 pt-4 text-tremor-default text-tremor-content" data-testid="events-empty">
          {filtered ? 'No events match these filters.' : 'No events from this customer yet.'}
        </p>
      ) : (
        <DataTable className="mt-4" aria-label="Events of this customer">
          <TableHead>
            <TableRow>
              <TableHeaderCell className="pl-6">Occurred</TableHeaderCell>
              <TableHeaderCell>Meter</TableHeaderCell>
              <TableHeaderCell className="text-right">Value</TableHeaderCell>
              <TableHeaderCell className="text-right">Counted</TableHeaderCell>
              <TableHeaderCell className="whitespace-normal">Idempotency key</TableHeaderCell>
              <TableHeaderCell className="pr-6">Properties</TableHeaderCell>
            </TableRow>
          </TableHead>
          <TableBody>
            {events.map((event) => {
              const meter = byId.get(event.meter_id);
              return (
                <TableRow key={event.id} data-testid="event-row" data-event-id={event.id}>
                  <TableCell className="whitespace-normal pl-6 align-top">
                    <time dateTime={event.occurred_at} className="block whitespace-nowrap text-tremor-content-strong">
                      {formatDateTime(event.occurred_at)}
                    </time>
                    <span className="block text-tremor-label" title={event.received_at}>
                      received {formatDateTime(event.received_at)}
                    </span>
                  </TableCell>
                  <TableCell className="align-top font-mono text-[12px]">{event.event_name}</TableCell>
                  <TableCell className="text-right align-top tabular-nums">{formatDecimal(event.value)}</TableCell>
                  <TableCell className="max-w-[9rem] whitespace-normal break-words text-right align-top tabular-nums text-tremor-content-strong" data-testid="event-counted">
                    {counted(event, meter)}
                    {meter && meter.aggregation_type !== 'unique' && isRoundedDuration(event, meter) === null ? (
                      <span className="block text-tremor-label text-tremor-content">{unitFor(formatDecimal(event.counted), meter.unit_name)}</span>
                    ) : null}
                  </TableCell>
                  <TableCell className="max-w-[8rem] align-top">
                    {event.idempotency_key ? (
                      <code className="block truncate font-mono text-[12px]" title={event.idempotency_key}>
                        {event.idempotency_key}
                      </code>
                    ) : (
                      <span className="text-tremor-content-subtle">—</span>
                    )}
                  </TableCell>
                  <TableCell className="min-w-[12rem] whitespace-normal pr-6 align-top">
                    <Properties properties={event.properties} />
                  </TableCell>
                </TableRow>
              );
            })}
          </TableBody>
        </DataTable>
      )}
      {nextCursor || filters.cursor ? (
        <nav aria-label="Event pages" className="flex items-center justify-between gap-3 border-t border-tremor-border px-6 py-3">
          {filters.cursor ? (
            <Link to={firstPageLink} className={buttonClassName('small')}>
              ← Newest
            </Link>
          ) : (
            <span />
          )}
          {nextCursor ? (
            <Link to={nextPageLink} className={buttonClassName('small')} rel="next">
              Older events →
            </Link>
          ) : null}
        </nav>
      ) : null}
    </Card>
  );
}
