/** The hidden token every logged-in form posts; actions check it with requireSessionCsrf. */
export function CsrfField({ token }: { token: string }) {
  return <input type="hidden" name="csrf" value={token} />;
}
