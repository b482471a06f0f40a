import { describe, expect, it } from 'vitest';
import { safeNext, signInUrl } from '$lib/navigation';

describe('after sign-in', () => {
	it('returns to the page the user was on, with its query', () => {
		expect(safeNext('/ui/audit?outcome=policy_denied')).toBe('/ui/audit?outcome=policy_denied');
	});

	it('never leaves the UI (no open redirect)', () => {
		for (const next of ['https://evil.example/', '//evil.example/ui', '/api/v1/clients', '/ui\\..\\x', '/uix']) {
			expect(safeNext(next)).toBe('/ui');
		}
	});

	it('does not loop back to the sign-in page', () => {
		expect(safeNext('/ui/signin?next=/ui')).toBe('/ui');
		expect(safeNext(null)).toBe('/ui');
	});

	it('carries the current page in the sign-in URL', () => {
		expect(signInUrl('/ui/clients/a?b=c')).toBe('/ui/signin?next=%2Fui%2Fclients%2Fa%3Fb%3Dc');
	});
});
