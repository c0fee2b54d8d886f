import { isRouteErrorResponse, Link, Links, Meta, Outlet, Scripts, ScrollRestoration, useRouteError, useRouteLoaderData } from '@remix-run/react';
import type { LinksFunction, LoaderFunctionArgs } from '@remix-run/node';
import { json } from '@remix-run/node';
import stylesheet from '~/tailwind.css';

export const links: LinksFunction = () => [
  { rel: 'stylesheet', href: stylesheet },
  { rel: 'icon', href: '/favicon.svg', type: 'image/svg+xml' },
];

export async function loader({ context }: LoaderFunctionArgs) {
  return json({ nonce: context.nonce });
}

export function Layout({ children }: { children: React.ReactNode }) {
  const data = useRouteLoaderData<typeof loader>('root');
  const nonce = data?.nonce;
  return (
    <html lang="en" className="h-full bg-gray-50">
      <head>
        <meta charSet="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <Meta />
        <Links />
      </head>
      <body className="h-full text-gray-900">
        {children}
        <ScrollRestoration nonce={nonce} />
        <Scripts nonce={nonce} />
      </body>
    </html>
  );
}

export default function App() {
  return <Outlet />;
}

const ERROR_TITLES: Record<number, string> = {
  403: 'This request was refused',
  404: 'Page not found',
};

/** Any page's thrown response (403 from a CSRF check, 404…) or crash, without internals. */
export function ErrorBoundary() {
  const error = useRouteError();
  const status = isRouteErrorResponse(error) ? error.status : 500;
  const data: unknown = isRouteErrorResponse(error) ? error.data : null;
  const message =
    typeof data === 'object' && data !== null && 'message' in data && typeof data.message === 'string'
      ? data.message
      : status === 404
        ? 'There is nothing at this address.'
        : 'Something went wrong on our side. Try again in a moment.';
  return (
    <main className="flex min-h-full flex-col items-center justify-center px-4 py-16 text-center">
      <p className="text-tremor-default font-semibold text-tremor-brand">{status}</p>
      <h1 className="mt-2 text-tremor-metric font-semibold text-tremor-content-strong">{ERROR_TITLES[status] ?? 'Something went wrong'}</h1>
      <p className="mt-3 max-w-md text-tremor-default text-tremor-content">{message}</p>
      <Link to="/creator/dashboard/usage" className="mt-6 text-tremor-default font-medium text-tremor-brand hover:text-tremor-brand-emphasis">
        Back to the dashboard
      </Link>
    </main>
  );
}
