import { fireEvent, render, screen } from '@testing-library/svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Schemas } from '$lib/api/client';
import RevokeGrants from '$lib/components/RevokeGrants.svelte';
import { session } from '$lib/session.svelte';
import { grantedThrough, grantingSubscriptions, personActor, signedOutByRevocation } from '$lib/people';

function subscription(name: string, subject: Schemas['SubscriptionSpec']['subject']): Schemas['Subscription'] {
	return {
		apiVersion: 'giru.ai/v1alpha1',
		kind: 'Subscription',
		metadata: { name },
		spec: { server: 'clinic', subject }
	} as Schemas['Subscription'];
}

const alice = { email: 'alice@hospital.example', groups: ['nurses'] };

describe('the subscriptions that grant a person', () => {
	const all = [
		subscription('alice-own', { user: 'Alice@Hospital.example' }),
		subscription('nurses-clinic', { group: 'nurses' }),
		subscription('admins-clinic', { group: 'admins' }),
		subscription('bob-own', { user: 'bob@hospital.example' }),
		subscription('a-client', null)
	];

	it('are those naming them, in any case, and those naming one of their groups', () => {
		expect(grantingSubscriptions(all, alice).map((s) => s.metadata.name)).toEqual(['alice-own', 'nurses-clinic']);
	});

	it('match groups exactly, as policy does', () => {
		expect(grantingSubscriptions(all, { ...alice, groups: ['Nurses'] }).map((s) => s.metadata.name)).toEqual(['alice-own']);
	});

	it('say whether they name the person or a group', () => {
		expect(all.map(grantedThrough)).toEqual(['named', 'group nurses', 'group admins', 'named', '—']);
	});
});

describe('how the audit log names a person', () => {
	it('is user: and their email', () => {
		expect(personActor('alice@hospital.example')).toBe('user:alice@hospital.example');
	});
});

describe('a revoked person', () => {
	it('stays signed out until they sign in again after the revocation', () => {
		expect(signedOutByRevocation({ lastSeen: '2026-12-07T01:00:00Z', revokedAt: '2026-12-07T02:00:00Z' })).toBe(true);
		expect(signedOutByRevocation({ lastSeen: '2026-12-07T03:00:00Z', revokedAt: '2026-12-07T02:00:00Z' })).toBe(false);
		expect(signedOutByRevocation({ lastSeen: null, revokedAt: '2026-12-07T02:00:00Z' })).toBe(true);
		expect(signedOutByRevocation({ lastSeen: '2026-12-07T01:00:00Z', revokedAt: null })).toBe(false);
	});
});

const MARKUP = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 1">';

describe('revoking a person\'s grants', () => {
	afterEach(() => {
		session.role = null;
	});

	it('is offered to no viewer nor operator', () => {
		for (const role of ['viewer', 'operator'] as const) {
			session.role = role;
			const { unmount } = render(RevokeGrants, { email: alice.email, onrevoke: vi.fn() });
			expect(screen.queryAllByRole('button')).toHaveLength(0);
			unmount();
		}
	});

	it('asks an admin first, naming the person and that they must sign in again', async () => {
		session.role = 'admin';
		const onrevoke = vi.fn();
		render(RevokeGrants, { email: alice.email, onrevoke });
		await fireEvent.click(screen.getByRole('button', { name: 'Revoke grants' }));
		expect(onrevoke).not.toHaveBeenCalled();
		const confirmation = screen.getByRole('group', { name: 'Confirm revoking grants' });
		expect(confirmation.textContent).toContain(alice.email);
		expect(confirmation.textContent).toContain('refused at once');
		expect(confirmation.textContent).toContain('they must sign in again');
		await fireEvent.click(screen.getByRole('button', { name: `Revoke grants of ${alice.email}` }));
		expect(onrevoke).toHaveBeenCalledOnce();
		expect(screen.queryByRole('group', { name: 'Confirm revoking grants' })).toBeNull();
	});

	it('can be called off without revoking', async () => {
		session.role = 'admin';
		const onrevoke = vi.fn();
		render(RevokeGrants, { email: alice.email, onrevoke });
		await fireEvent.click(screen.getByRole('button', { name: 'Revoke grants' }));
		await fireEvent.click(screen.getByRole('button', { name: 'Cancel' }));
		expect(onrevoke).not.toHaveBeenCalled();
		expect(screen.getByRole('button', { name: 'Revoke grants' })).toBeTruthy();
	});

	it('shows markup in an email as text', async () => {
		session.role = 'admin';
		render(RevokeGrants, { email: MARKUP, onrevoke: vi.fn() });
		await fireEvent.click(screen.getByRole('button', { name: 'Revoke grants' }));
		const confirmation = screen.getByRole('group', { name: 'Confirm revoking grants' });
		expect(confirmation.querySelector('strong')?.textContent).toBe(MARKUP);
		expect(confirmation.querySelector('script, img')).toBeNull();
		expect((window as unknown as { __pwned?: number }).__pwned).toBeUndefined();
	});
});
