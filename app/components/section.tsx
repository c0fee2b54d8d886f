import type { ReactNode } from 'react';
import { Card } from '@tremor/react';
import { useNavigation } from '@remix-run/react';

/** A titled card of a settings-like page, reachable by its `id` as a link's #fragment. */
export function Section({ id, title, description, children }: { id: string; title: string; description: ReactNode; children: ReactNode }) {
  return (
    <section id={id} aria-labelledby={`${id}-title`} className="scroll-mt-6">
      <Card>
        <h2 id={`${id}-title`} className="text-tremor-title font-semibold text-tremor-content-strong">
          {title}
        </h2>
        <p className="mt-1 max-w-3xl text-tremor-default text-tremor-content">{description}</p>
        <div className="mt-5">{children}</div>
      </Card>
    </section>
  );
}

/** Whether a form of this intent (and, for a form per row, this id) is being submitted: for buttons that say "Saving…". */
export function usePending<Intent extends string>() {
  const navigation = useNavigation();
  const data = navigation.state === 'submitting' ? navigation.formData : undefined;
  return (intent: Intent, id?: string) => data?.get('intent') === intent && (id === undefined || data.get('id') === id);
}
