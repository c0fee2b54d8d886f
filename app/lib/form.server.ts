import { json } from '@remix-run/node';

/** The posted form, or 400 when the body is not one (wrong content type, malformed multipart). */
export async function readFormData(request: Request): Promise<FormData> {
  try {
    return await request.formData();
  } catch {
    throw json({ message: 'The form could not be read. Reload the page and try again.' }, { status: 400 });
  }
}
