import { json, type LoaderFunctionArgs } from '@remix-run/node';
import { Link, useLoaderData } from '@remix-run/react';
import { Card } from '@tremor/react';
import type { ReactNode } from 'react';
import { CopyButton } from '~/components/copy-button';
import { LiveIndicator } from '~/components/live-indicator';
import { LiveOverview } from '~/components/live-overview';
import { PageHeader } from '~/components/page-header';
import { requireCreator } from '~/lib/caller.server';
import { dashboardPath, useDashboard } from '~/lib/dashboard';
import { pageHeaders } from '~/lib/page-headers';
import { trpc } from '~/lib/trpc.client';
import { useLive } from '~/lib/use-live';
import { linkClass } from '~/components/styles';

export const headers = pageHeaders;

/** The address the creator's apps reach us at, as the browser sees it. */
function publicOrigin(request: Request, secure: boolean): string {
  const url = new URL(request.url);
  // Behind a TLS-terminating proxy the request arrives as http; Secure cookies mean the
  // site is served over https.
  if (secure && url.protocol === 'http:') url.protocol = 'https:';
  return url.origin;
}

export async function loader({ request, context }: LoaderFunctionArgs) {
  const { caller } = await requireCreator(request, context);
  const [{ keys }, overview] = await Promise.all([caller.apiKeys.list(), caller.insights.overview()]);
  return json(
    { origin: publicOrigin(request, context.secureCookies), hasActiveKey: keys.some((key) => key.revoked_at === null), overview },
    { headers: { 'Cache-Control': 'private, no-store' } },
  );
}

function trackCommand(origin: string): string {
  return [
    `curl -X POST ${origin}/api/usage/track \\`,
    `  -H "Authorization: Bearer <your key>" \\`,
    `  -H "Content-Type: application/json" \\`,
    `  -d '{"event_name":"api_calls","user_id":"user_123","value":1}'`,
  ].join('\n');
}

function Step({ number, title, done = false, children }: { number: number; title: string; done?: boolean; children: ReactNode }) {
  return (
    <li className="relative flex gap-4 pb-8 last:pb-0">
      <span
        aria-hidden="true"
        className={`flex h-8 w-8 shrink-0 items-center justify-center rounded-full text-tremor-default font-semibold ${
          done ? 'bg-emerald-500 text-white' : 'bg-tremor-brand-faint text-tremor-brand-emphasis ring-1 ring-tremor-brand-muted'
        }`}
      >
        {done ? '✓' : number}
      </span>
      <div className="min-w-0 flex-1 pt-1">
        <h3 className="text-tremor-default font-semibold text-tremor-content-strong">
          <span className="sr-only">Step {number}: </span>
          {title}
          {done ? <span className="ml-2 text-tremor-label font-medium text-emerald-600">Done</span> : null}
        </h3>
        <div className="mt-1 text-tremor-default text-tremor-content">{children}</div>
      </div>
    </li>
  );
}

export default function OverviewPage() {
  const { origin, hasActiveKey, overview: initial } = useLoaderData<typeof loader>();
  const { creator } = useDashboard();
  const { data: overview, state, updatedAt } = useLive(initial, (signal) => trpc.insights.overview.query(undefined, { signal }));
  return (
    <>
      <PageHeader
        title="Overview"
        description={
          overview.has_usage
            ? 'This billing period across your customers, updated every few seconds.'
            : `Welcome, ${creator.name}. Usage, limits and overages of your customers will show up here.`
        }
      >
        <LiveIndicator state={state} updatedAt={updatedAt} />
      </PageHeader>
      {overview.has_usage ? <LiveOverview overview={overview} /> : <GetStarted origin={origin} hasActiveKey={hasActiveKey} hasMeters={overview.meters.length > 0} />}
    </>
  );
}

function GetStarted({ origin, hasActiveKey, hasMeters }: { origin: string; hasActiveKey: boolean; hasMeters: boolean }) {
  const command = trackCommand(origin);
  return (
    <>
      <Card className="max-w-3xl" data-testid="empty-state">
        <h2 className="text-tremor-title font-semibold text-tremor-content-strong">No usage yet — three steps to your first event</h2>
        <p className="mt-1 text-tremor-default text-tremor-content">
          Once your app reports an event, this page shows usage per meter and customer.
        </p>
        <ol className="mt-6">
          <Step number={1} title="Create a meter" done={hasMeters}>
            Define what you measure — API calls, storage, messages, minutes — with its event name, how events add up, and per-plan limits.{' '}
            <Link to={dashboardPath('meters')} className={linkClass}>
              Go to Meters
            </Link>
          </Step>
          <Step number={2} title="Get an API key" done={hasActiveKey}>
            Your backend authenticates with a key that has the <code className="rounded bg-tremor-background-subtle px-1 py-0.5 text-tremor-label">track</code>{' '}
            scope.{' '}
            <Link to={dashboardPath('keys')} className={linkClass}>
              {hasActiveKey ? 'Manage API keys' : 'Create an API key'}
            </Link>
          </Step>
          <Step number={3} title="Send your first event">
            <p>
              Report usage from your backend. Replace <code className="rounded bg-tremor-background-subtle px-1 py-0.5 text-tremor-label">&lt;your key&gt;</code> with
              your API key and <code className="rounded bg-tremor-background-subtle px-1 py-0.5 text-tremor-label">api_calls</code> with your meter’s event name.
            </p>
            <div className="mt-3 overflow-hidden rounded-tremor-default bg-gray-950">
              <div className="flex items-center justify-between border-b border-white/10 px-4 py-2">
                <span className="text-tremor-label font-medium text-gray-400">Terminal</span>
                <CopyButton text={command} label="Copy command" />
              </div>
              <pre className="overflow-x-auto px-4 py-3 text-[13px] leading-6 text-gray-100" data-testid="track-command">
                <code>{command}</code>
              </pre>
            </div>
            <p className="mt-3">
              The full HTTP API is described at{' '}
              <a href="/api/docs" className={linkClass}>
                /api/docs
              </a>
              .
            </p>
          </Step>
        </ol>
      </Card>
    </>
  );
}
