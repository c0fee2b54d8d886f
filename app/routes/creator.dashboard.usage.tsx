import { json, type LoaderFunctionArgs, type MetaFunction } from '@remix-run/node';
import { Form, NavLink, Outlet, useLoaderData } from '@remix-run/react';
import { BrandMark } from '~/components/brand-mark';
import { CsrfField } from '~/components/csrf-field';
import { requireCreator } from '~/lib/caller.server';
import { DASHBOARD_SECTIONS, dashboardPath } from '~/lib/dashboard';
import { pageHeaders } from '~/lib/page-headers';

export const meta: MetaFunction = () => [{ title: 'Dashboard · Staryer Usage' }];

export const headers = pageHeaders;

export async function loader({ request, context }: LoaderFunctionArgs) {
  const { caller, session } = await requireCreator(request, context);
  const me = await caller.auth.me();
  return json(
    { creator: { id: me.creator_id, name: me.name, email: me.email }, csrf: session.csrfSecret },
    // Private pages: not kept by shared caches, nor shown from history after logging out.
    { headers: { 'Cache-Control': 'private, no-store' } },
  );
}

const navLinkClass = ({ isActive }: { isActive: boolean }) =>
  `block whitespace-nowrap rounded-tremor-default px-3 py-2 text-tremor-default font-medium transition-colors ${
    isActive ? 'bg-tremor-brand-faint text-tremor-brand-emphasis' : 'text-tremor-content-emphasis hover:bg-tremor-background-subtle hover:text-tremor-content-strong'
  }`;

export default function DashboardLayout() {
  const { creator, csrf } = useLoaderData<typeof loader>();
  return (
    <div className="min-h-full">
      <aside className="border-b border-tremor-border bg-white lg:fixed lg:inset-y-0 lg:flex lg:w-64 lg:flex-col lg:border-b-0 lg:border-r">
        <div className="flex items-center justify-between px-4 py-4 lg:px-6 lg:py-6">
          <BrandMark />
        </div>
        <nav aria-label="Dashboard" className="overflow-x-auto px-2 pb-3 lg:flex-1 lg:px-4 lg:pb-0">
          <ul className="flex gap-1 lg:flex-col">
            {DASHBOARD_SECTIONS.map((section) => (
              <li key={section.slug}>
                <NavLink to={dashboardPath(section.slug)} end={section.slug === ''} prefetch="intent" className={navLinkClass}>
                  {section.label}
                </NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <div className="flex items-center justify-between gap-3 border-t border-tremor-border px-4 py-3 lg:px-6 lg:py-4">
          <div className="min-w-0">
            <p className="truncate text-tremor-default font-medium text-tremor-content-strong" data-testid="creator-name">
              {creator.name}
            </p>
            <p className="truncate text-tremor-label text-tremor-content" data-testid="creator-email">
              {creator.email}
            </p>
          </div>
          <Form method="post" action="/logout">
            <CsrfField token={csrf} />
            <button
              type="submit"
              className="shrink-0 whitespace-nowrap rounded-tremor-small px-2.5 py-1.5 text-tremor-label font-medium text-tremor-content-emphasis ring-1 ring-tremor-ring hover:bg-tremor-background-subtle focus:outline-none focus-visible:ring-2 focus-visible:ring-tremor-brand-muted"
            >
              Log out
            </button>
          </Form>
        </div>
      </aside>
      <main className="px-4 py-8 sm:px-6 lg:pl-72 lg:pr-10 lg:pt-10">
        <div className="mx-auto max-w-6xl">
          <Outlet />
        </div>
      </main>
    </div>
  );
}
