/** The product's name with a small meter glyph; decorative, so the SVG is hidden from readers. */
export function BrandMark({ compact = false }: { compact?: boolean }) {
  return (
    <span className="inline-flex items-center gap-2 font-semibold text-tremor-content-strong">
      <svg aria-hidden="true" viewBox="0 0 24 24" className="h-7 w-7 rounded-tremor-small bg-tremor-brand p-1 text-white">
        <path fill="currentColor" d="M4 18h3V11H4v7Zm6.5 0h3V6h-3v12Zm6.5 0h3v-4h-3v4Z" />
      </svg>
      {compact ? null : <span className="text-tremor-default">Staryer Usage</span>}
    </span>
  );
}
