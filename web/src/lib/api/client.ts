// The typed API client, generated from the control plane's OpenAPI document (schema.d.ts;
// `make ui-api` regenerates it, a test checks it matches the live API).
import createClient from 'openapi-fetch';
import type { components, paths } from './schema';
import { session } from '$lib/session.svelte';
import { freshToken } from '$lib/sso';

export type Schemas = components['schemas'];

let unauthorized: () => void = () => {};
let roleAskedFor: string | null = null;

/** What to do when the API answers 401 (the layout sends the user to sign-in). */
export function onUnauthorized(handler: () => void): void {
	unauthorized = handler;
}

export const api = createClient<paths>({ baseUrl: '' });

api.use({
	async onRequest({ request }) {
		if (request.headers.has('Authorization')) return request;
		const before = session.token;
		const token = await freshToken(); // an IdP sign-in's token is refreshed before it expires
		if (token !== null) request.headers.set('Authorization', `Bearer ${token}`);
		if (token !== null && token !== before && token !== roleAskedFor) {
			roleAskedFor = token; // once per refresh, however many requests waited for it
			void askRole(token);
		}
		return request;
	},
	onResponse({ response }) {
		if (response.status === 401) unauthorized();
		return response;
	}
});

/** A refreshed token carries the person's groups as the IdP has them now: the role shown (and
 * so the buttons) follows it; a person no group grants a role any more signs in again. */
async function askRole(token: string): Promise<void> {
	const { data, response } = await api.GET('/api/v1/whoami', { headers: { Authorization: `Bearer ${token}` } });
	if (data) {
		session.name = data.name;
		session.role = data.role;
	} else if (response.status === 403) {
		unauthorized();
	}
}

/** A readable sentence for an API error body (a problem+json document, or anything else). */
export function problemText(error: unknown, status?: number): string {
	if (error !== null && typeof error === 'object') {
		const problem = error as { title?: unknown; detail?: unknown; errors?: unknown };
		const parts = [problem.title, problem.detail].filter((p) => typeof p === 'string' && p);
		if (Array.isArray(problem.errors)) {
			for (const item of problem.errors as { field?: unknown; reason?: unknown }[]) {
				if (typeof item.reason === 'string') parts.push(`${String(item.field ?? '')}: ${item.reason}`);
			}
		}
		if (parts.length > 0) return parts.join(' — ');
	}
	return status ? `The API answered ${status}.` : 'The API could not be reached.';
}
